//! Request parameters as the cloud reads them: query string and body merged, the body winning.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::HeaderMap;

use super::errors::ApiErr;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Merges the query string and the body. The body is read as a form whatever its declared
    /// type, or as a JSON object when it looks like one: no real client sends JSON to `/v3`, so
    /// the fake reads it leniently rather than guessing how the cloud would refuse it.
    pub fn parse(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Params {
        let mut map: HashMap<String, String> = query
            .map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let is_json = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"))
            || body.first() == Some(&b'{');
        if is_json {
            if let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(body) {
                for (k, v) in obj {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(k, v);
                }
            }
        } else if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            map.extend(pairs);
        }
        Params(map)
    }

    /// A present, non-empty value.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The first present spelling of a parameter (`clientId` or `client_id`).
    pub fn either(&self, a: &str, b: &str) -> Option<&str> {
        self.str(a).or_else(|| self.str(b))
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiErr> {
        self.str(name).ok_or_else(|| ApiErr::param(name))
    }

    /// An integer sent as a number or a decimal string; absent is `None`, garbage is `-3`.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiErr> {
        match self.str(name) {
            None => Ok(None),
            Some(s) => s.trim().parse().map(Some).map_err(|_| ApiErr::param(name)),
        }
    }

    pub fn required_int(&self, name: &str) -> Result<i64, ApiErr> {
        self.int(name)?.ok_or_else(|| ApiErr::param(name))
    }
}
