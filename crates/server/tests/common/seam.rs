//! Calls to the `/seam` surface as Seam's SDKs send them.

#![allow(dead_code, clippy::unwrap_used)]

use reqwest::Method;
use serde_json::Value;

use super::TestApp;

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
}

impl TestApp {
    /// A `/seam` call with `seam_` + `key`: `params` in the query for GET and DELETE (Seam's
    /// serialisation: sorted keys, `_strict=true` last), as a JSON body otherwise.
    pub async fn seam_as(&self, key: &str, method: Method, route: &str, params: Value) -> Answer {
        let mut url = format!("{}/seam{route}", self.url);
        let query = matches!(method, Method::GET | Method::DELETE);
        let mut req = if query {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (k, v) in params.as_object().unwrap() {
                match v {
                    Value::Array(items) => pairs.extend(
                        items
                            .iter()
                            .map(|i| (k.clone(), i.as_str().unwrap().to_owned())),
                    ),
                    Value::String(s) => pairs.push((k.clone(), s.clone())),
                    other => pairs.push((k.clone(), other.to_string())),
                }
            }
            if !pairs.is_empty() {
                pairs.sort();
                pairs.push(("_strict".into(), "true".into()));
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                url = format!("{url}?{q}");
            }
            self.http.request(method, url)
        } else {
            self.http.request(method, url).json(&params)
        };
        req = req.bearer_auth(format!("seam_{key}"));
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let request_id = r
            .headers()
            .get("seam-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["ok"], status < 300, "{body}");
        Answer {
            status,
            body,
            request_id,
        }
    }

    pub async fn seam(&self, method: Method, route: &str, params: Value) -> Answer {
        self.seam_as(&self.admin.clone(), method, route, params)
            .await
    }
}

pub fn seam_error(a: &Answer) -> (u16, &str) {
    (a.status, a.body["error"]["type"].as_str().unwrap_or("-"))
}
