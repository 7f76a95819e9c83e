//! TTLock's error envelope: HTTP 200 with `{errcode, errmsg, description}`.

use serde_json::{Value, json};

/// An API-level refusal, answered as HTTP 200 with the three-key envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErr {
    pub errcode: i64,
    pub errmsg: String,
}

impl ApiErr {
    /// The cloud's own message for a known code.
    pub fn code(errcode: i64) -> Self {
        ApiErr {
            errcode,
            errmsg: errmsg(errcode).to_owned(),
        }
    }

    /// `-3 Invalid Parameter.`, naming the parameter after the cloud's text.
    pub fn param(name: &str) -> Self {
        ApiErr {
            errcode: -3,
            errmsg: format!("Invalid Parameter. {name}"),
        }
    }

    pub fn body(&self) -> Value {
        json!({
            "errcode": self.errcode,
            "errmsg": self.errmsg,
            "description": description(self.errcode),
        })
    }
}

/// The ack of an action endpoint, as real traffic shows it (three keys).
pub fn ack() -> Value {
    json!({"errcode": 0, "errmsg": "none error message or means yes", "description": "表示成功或是"})
}

fn errmsg(code: i64) -> &'static str {
    match code {
        1 => "failed or means no",
        -3 => "Invalid Parameter.",
        10000 => "invalid client_id",
        10001 => "invalid client",
        10003 => "invalid token",
        10004 => "invalid grant",
        10007 => "invalid account or invalid password",
        10010 => "unsupported grant_type",
        10011 => "invalid refresh_token",
        20002 => "not lock admin",
        30005 => "password must be md5 encrypted",
        30006 => "exceeds the restrictions of API call number",
        80000 => "date must be current time, in 5 minutes",
        90000 => "internal server error",
        -1003 => "Lock does not exist",
        -1007 => "No password data of this lock",
        -2012 => "The Lock is not connected to any Gateway.",
        -2018 => "Permission Denied",
        -3002 => "The gateway is offline. Please check and try again.",
        -3003 => "The gateway is busy. Please try again later.",
        -3006 => "Invalid Passcode. Passcode should be between 6 - 9 Digits in length",
        // Real responses carry a no-break space here (seen in TTLock's answers).
        -3007 => "The same passcode\u{a0}already exists. Please use another one.",
        -3008 => "A Passcode that has never been used on the Lock cannot be changed",
        -3009 => {
            "There is NO SPACE to store Customized Passcodes. Please Delete Un-Used Customized \
             Passcodes and try again"
        }
        -3036 => "The lock is offline. Please check and try again.",
        -3037 => "The lock is busy. Please try again later.",
        -4037 => "No such Gateway exists.",
        -4043 => "The function is not supported for this lock.",
        _ => "failed or means no",
    }
}

fn description(code: i64) -> &'static str {
    match code {
        10001 => "无效的client，client_id或client_secret错误",
        10003 | 10004 => "token无授权，token已失效或被撤销授权",
        80000 => "请求时间必需为当前时间前后五分钟以内",
        -4043 => "此锁不支持该操作。",
        _ => "表示失败或否",
    }
}
