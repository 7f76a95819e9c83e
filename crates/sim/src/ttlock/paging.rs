use serde_json::{Value, json};

use super::errors::ApiErr;
use super::params::Params;

/// TTLock's page envelope over `items`. Missing `pageNo`/`pageSize` default to 1/20, and a
/// page size over the cap is clamped: what the cloud does past a cap is unconfirmed, and
/// clamping is the lenient reading.
pub fn paged<T>(
    items: &[T],
    p: &Params,
    cap: i64,
    f: impl Fn(&T) -> Value,
) -> Result<Value, ApiErr> {
    let page_no = p.int("pageNo")?.unwrap_or(1);
    let size = p.int("pageSize")?.unwrap_or(20);
    if page_no < 1 {
        return Err(ApiErr::param("pageNo"));
    }
    if size < 1 {
        return Err(ApiErr::param("pageSize"));
    }
    let size = size.min(cap);
    let total = items.len() as i64;
    let pages = (total + size - 1) / size;
    let skip = ((page_no - 1) * size).min(total) as usize;
    let list: Vec<Value> = items.iter().skip(skip).take(size as usize).map(f).collect();
    Ok(json!({"list": list, "pageNo": page_no, "pageSize": size, "pages": pages, "total": total}))
}
