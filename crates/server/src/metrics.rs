//! `/metrics` in Prometheus' text format: HTTP requests and vendor calls.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::state::AppState;

#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl HttpMetrics {
    pub fn record(&self, route: &str, status: u16) {
        let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match r.get_mut(&(route.to_owned(), status)) {
            Some(n) => *n += 1,
            None => {
                r.insert((route.to_owned(), status), 1);
            }
        }
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(state: &AppState) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP lockbridge_http_requests_total HTTP requests served, by route and status."
    );
    let _ = writeln!(out, "# TYPE lockbridge_http_requests_total counter");
    for ((route, status), n) in state
        .http
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "lockbridge_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
            label(route)
        );
    }
    let _ = writeln!(
        out,
        "# HELP lockbridge_vendor_calls_total Calls made to vendor clouds, by connection and route."
    );
    let _ = writeln!(out, "# TYPE lockbridge_vendor_calls_total counter");
    for (conn, provider, route, n) in state.calls.snapshot() {
        let _ = writeln!(
            out,
            "lockbridge_vendor_calls_total{{connection=\"{conn}\",provider=\"{provider}\",route=\"{}\"}} {n}",
            label(route)
        );
    }
    out
}
