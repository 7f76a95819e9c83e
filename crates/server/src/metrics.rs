//! `/metrics` in Prometheus' text format: HTTP requests and vendor calls.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::state::AppState;

#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    auth_failures: AtomicU64,
}

impl HttpMetrics {
    /// A request refused for want of a valid API key.
    pub fn auth_failed(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

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
        "# HELP lockbridge_auth_failures_total Requests refused for a missing, malformed, unknown or deleted API key."
    );
    let _ = writeln!(out, "# TYPE lockbridge_auth_failures_total counter");
    let _ = writeln!(
        out,
        "lockbridge_auth_failures_total {}",
        state.http.auth_failures.load(Ordering::Relaxed)
    );
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
