pub mod access_codes;
pub mod api_keys;
pub mod bff;
mod code_changes;
pub mod connections;
pub mod locks;
pub mod system;
pub mod things;

use serde::Serialize;
use serde_json::{Value, json};

/// `{"data": [...], "next_cursor": …}` from a page fetched with one extra row.
pub fn list<T: Serialize>(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Value {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(cursor) } else { None };
    json!({ "data": rows, "next_cursor": next })
}
