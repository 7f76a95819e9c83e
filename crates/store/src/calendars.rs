//! Calendar feeds of properties: where each is read from (sealed: a feed's URL is its owner's
//! secret), what the last read answered, and when it is read next.

use lockbridge_core::ids::{CalendarId, PropertyId};
use lockbridge_core::stays::Calendar;
use lockbridge_core::time::Millis;

use crate::{Result, Store, insert_into, on, parse};

const COLUMNS: &str = "id, org_id, property_id, url, name, etag, last_modified, last_error, \
    last_read_at, next_read_at, created_at";

#[derive(Debug, sqlx::FromRow)]
struct CalendarRow {
    id: String,
    org_id: String,
    property_id: String,
    url: Vec<u8>,
    name: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    last_error: Option<String>,
    last_read_at: Option<i64>,
    next_read_at: i64,
    created_at: i64,
}

impl Store {
    fn calendar(&self, r: CalendarRow) -> Result<Calendar> {
        let id = r.id;
        Ok(Calendar {
            org_id: parse("calendars", &id, "org_id", &r.org_id)?,
            property_id: parse("calendars", &id, "property_id", &r.property_id)?,
            url: self.cipher.open_string(&id, &r.url)?,
            name: r.name,
            etag: r.etag,
            last_modified: r.last_modified,
            last_error: r.last_error,
            last_read_at: r.last_read_at,
            next_read_at: r.next_read_at,
            created_at: r.created_at,
            id: parse("calendars", &id, "id", &id)?,
        })
    }

    pub async fn insert_calendar(&self, c: &Calendar) -> Result<()> {
        let id = c.id.to_string();
        let sql = insert_into("calendars", COLUMNS);
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(id.clone())
            .bind(c.org_id.to_string())
            .bind(c.property_id.to_string())
            .bind(self.cipher.seal(&id, c.url.as_bytes()))
            .bind(c.name.clone())
            .bind(c.etag.clone())
            .bind(c.last_modified.clone())
            .bind(c.last_error.clone())
            .bind(c.last_read_at)
            .bind(c.next_read_at)
            .bind(c.created_at)
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn calendars_of(&self, property: PropertyId) -> Result<Vec<Calendar>> {
        let sql = format!("SELECT {COLUMNS} FROM calendars WHERE property_id = $1 ORDER BY id");
        let rows = on!(&self.pool, db => sqlx::query_as::<_, CalendarRow>(&sql)
            .bind(property.to_string())
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.calendar(r)).collect()
    }

    pub async fn delete_calendar(&self, property: PropertyId, id: CalendarId) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("DELETE FROM calendars WHERE id = $1 AND property_id = $2")
            .bind(id.to_string())
            .bind(property.to_string())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Claims up to `limit` feeds due a read: each one's next read moves to `next` in the same
    /// statement, so that one instance reads it once an interval.
    pub async fn claim_due_calendars(
        &self,
        now: Millis,
        limit: u32,
        next: Millis,
    ) -> Result<Vec<Calendar>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE calendars SET next_read_at = $1 WHERE id IN (\
             SELECT id FROM calendars WHERE next_read_at <= $2 ORDER BY next_read_at LIMIT $3{skip_locked}) \
             AND next_read_at <= $2 RETURNING {COLUMNS}"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, CalendarRow>(&sql)
            .bind(next)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.calendar(r)).collect()
    }

    /// What a read found: the validators for the next conditional request, or the error (the
    /// validators then stay as they were).
    pub async fn calendar_read(
        &self,
        id: CalendarId,
        validators: Option<(Option<String>, Option<String>)>,
        error: Option<&str>,
        at: Millis,
    ) -> Result<()> {
        let (etag, modified, keep) = match validators {
            Some((e, m)) => (e, m, 0_i64),
            None => (None, None, 1),
        };
        on!(&self.pool, db => sqlx::query(
            "UPDATE calendars SET etag = CASE WHEN $1 = 1 THEN etag ELSE $2 END, \
             last_modified = CASE WHEN $1 = 1 THEN last_modified ELSE $3 END, \
             last_error = $4, last_read_at = $5 WHERE id = $6")
            .bind(keep)
            .bind(etag)
            .bind(modified)
            .bind(error.map(str::to_owned))
            .bind(at)
            .bind(id.to_string())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
