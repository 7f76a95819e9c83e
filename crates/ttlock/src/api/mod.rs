pub mod gateways;
pub mod locks;
pub mod passcodes;
pub mod records;

use std::future::Future;

use futures_util::stream::{self, Stream, TryStreamExt};
use serde::Deserialize;

use crate::de;
use crate::error::Result;

/// One page of a list, as TTLock pages them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub list: Vec<T>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub page_no: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub page_size: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub pages: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub total: Option<i64>,
}

impl<T> Page<T> {
    /// Whether a page follows this one. Past the last page TTLock answers an empty list, so an
    /// empty or short page also ends the walk when `pages` is missing.
    pub fn has_more(&self, page_no: u32, page_size: u32) -> bool {
        match self.pages {
            Some(pages) => i64::from(page_no) < pages && !self.list.is_empty(),
            None => self.list.len() >= page_size as usize,
        }
    }
}

/// Every item of every page, fetched page by page as the stream is read.
pub(crate) fn walk<T, F, Fut>(page_size: u32, fetch: F) -> impl Stream<Item = Result<T>>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    stream::try_unfold((Some(1u32), fetch), move |(next, fetch)| async move {
        let Some(page_no) = next else {
            return Ok::<_, crate::Error>(None);
        };
        let page = fetch(page_no).await?;
        let next = page.has_more(page_no, page_size).then_some(page_no + 1);
        Ok(Some((
            stream::iter(page.list.into_iter().map(Ok)),
            (next, fetch),
        )))
    })
    .try_flatten()
}
