//! Properties and their reservations. A reservation is written whole, conditionally on the
//! version read; `applied_version` records how far its grant has been brought, so that a stay
//! an instance stopped working on (its grant not yet made, moved or revoked) is finished by the
//! next pass. PINs (the phone's last digits, an asked-for code, fallback codes) are sealed.

use lockbridge_core::events::Event;
use lockbridge_core::ids::{OrgId, PropertyId, ReservationId};
use lockbridge_core::stays::{Property, Reservation, ReservationStatus};
use lockbridge_core::time::Millis;
use sqlx::QueryBuilder;

use crate::{Result, Store, StoreError, insert_into, on, parse, parse_opt};

const PROPERTY_COLUMNS: &str = "id, org_id, name, lock_ids, time_zone, check_in_time, \
    check_out_time, code_source, early_minutes, late_minutes, version, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct PropertyRow {
    id: String,
    org_id: String,
    name: String,
    lock_ids: String,
    time_zone: String,
    check_in_time: String,
    check_out_time: String,
    code_source: String,
    early_minutes: i64,
    late_minutes: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, org_id, property_id, external_id, source, guest_name, phone_last4, \
    code, check_in_at, check_out_at, cancelled, grant_id, readiness, reasons, warnings, \
    fallback_codes, checked_at, next_check_at, version, applied_version, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct ReservationRow {
    id: String,
    org_id: String,
    property_id: String,
    external_id: String,
    source: String,
    guest_name: Option<String>,
    phone_last4: Option<Vec<u8>>,
    code: Option<Vec<u8>>,
    check_in_at: i64,
    check_out_at: i64,
    cancelled: i64,
    grant_id: Option<String>,
    readiness: String,
    reasons: String,
    warnings: String,
    fallback_codes: Option<Vec<u8>>,
    checked_at: Option<i64>,
    next_check_at: Option<i64>,
    version: i64,
    applied_version: i64,
    created_at: i64,
    updated_at: i64,
}

/// Which reservations a list answers.
#[derive(Debug, Clone, Default)]
pub struct ReservationFilter {
    pub property: Option<PropertyId>,
    pub status: Option<ReservationStatus>,
    /// Stays that end after `from` and begin before `to`.
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

fn corrupt(table: &'static str, id: &str, what: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        id: id.to_owned(),
        what: what.to_owned(),
    }
}

fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Store {
    fn property(&self, r: PropertyRow) -> Result<Property> {
        let id = r.id;
        Ok(Property {
            org_id: parse("properties", &id, "org_id", &r.org_id)?,
            name: r.name,
            lock_ids: serde_json::from_str(&r.lock_ids)
                .map_err(|_| corrupt("properties", &id, "lock_ids"))?,
            time_zone: r.time_zone,
            check_in_time: r.check_in_time,
            check_out_time: r.check_out_time,
            code_source: serde_json::from_value(serde_json::Value::String(r.code_source))
                .map_err(|_| corrupt("properties", &id, "code_source"))?,
            early_minutes: r.early_minutes as u32,
            late_minutes: r.late_minutes as u32,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            id: parse("properties", &id, "id", &id)?,
        })
    }

    pub async fn insert_property(&self, p: &Property) -> Result<()> {
        let sql = insert_into("properties", PROPERTY_COLUMNS);
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(p.id.to_string())
            .bind(p.org_id.to_string())
            .bind(p.name.clone())
            .bind(text(&p.lock_ids))
            .bind(p.time_zone.clone())
            .bind(p.check_in_time.clone())
            .bind(p.check_out_time.clone())
            .bind(json_text(&p.code_source))
            .bind(i64::from(p.early_minutes))
            .bind(i64::from(p.late_minutes))
            .bind(p.version)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Writes every changeable field of `p` if the row is still at `expected`.
    pub async fn update_property_if(
        &self,
        p: &mut Property,
        expected: i64,
        now: Millis,
    ) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query(
            "UPDATE properties SET version = version + 1, name = $1, lock_ids = $2, time_zone = $3, \
             check_in_time = $4, check_out_time = $5, code_source = $6, early_minutes = $7, \
             late_minutes = $8, updated_at = $9 WHERE id = $10 AND version = $11")
            .bind(p.name.clone())
            .bind(text(&p.lock_ids))
            .bind(p.time_zone.clone())
            .bind(p.check_in_time.clone())
            .bind(p.check_out_time.clone())
            .bind(json_text(&p.code_source))
            .bind(i64::from(p.early_minutes))
            .bind(i64::from(p.late_minutes))
            .bind(now)
            .bind(p.id.to_string())
            .bind(expected)
            .execute(db).await.map(|r| r.rows_affected()))?;
        if done == 1 {
            p.version = expected + 1;
            p.updated_at = now;
        }
        Ok(done == 1)
    }

    /// The organisation's property (`org` `None`: any organisation's, for workers).
    pub async fn get_property(
        &self,
        org: Option<OrgId>,
        id: PropertyId,
    ) -> Result<Option<Property>> {
        let sql = format!(
            "SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = $1 AND ($2 = '' OR org_id = $2)"
        );
        let row = on!(&self.pool, db => sqlx::query_as::<_, PropertyRow>(&sql)
            .bind(id.to_string())
            .bind(org.map(|o| o.to_string()).unwrap_or_default())
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.property(r)).transpose()
    }

    pub async fn list_properties(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<PropertyId>,
    ) -> Result<Vec<Property>> {
        let sql = format!(
            "SELECT {PROPERTY_COLUMNS} FROM properties WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, PropertyRow>(&sql)
            .bind(org.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.property(r)).collect()
    }

    /// Deletes a property with its calendars and reservations (their grants are the caller's).
    pub async fn delete_property(&self, org: OrgId, id: PropertyId) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("DELETE FROM properties WHERE id = $1 AND org_id = $2")
            .bind(id.to_string())
            .bind(org.to_string())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    fn reservation(&self, r: ReservationRow, now: Millis) -> Result<Reservation> {
        let id = r.id;
        let open = |v: Option<Vec<u8>>| v.map(|s| self.cipher.open_string(&id, &s)).transpose();
        fn list<T: serde::de::DeserializeOwned>(id: &str, t: &str, what: &str) -> Result<Vec<T>> {
            serde_json::from_str(t).map_err(|_| corrupt("reservations", id, what))
        }
        let mut out = Reservation {
            org_id: parse("reservations", &id, "org_id", &r.org_id)?,
            property_id: parse("reservations", &id, "property_id", &r.property_id)?,
            external_id: r.external_id,
            source: r.source,
            guest_name: r.guest_name,
            phone_last4: open(r.phone_last4)?,
            code: open(r.code)?,
            check_in_at: r.check_in_at,
            check_out_at: r.check_out_at,
            cancelled: r.cancelled != 0,
            status: ReservationStatus::Upcoming,
            grant_id: parse_opt("reservations", &id, "grant_id", r.grant_id)?,
            readiness: serde_json::from_value(serde_json::Value::String(r.readiness))
                .map_err(|_| corrupt("reservations", &id, "readiness"))?,
            reasons: list(&id, &r.reasons, "reasons")?,
            warnings: list(&id, &r.warnings, "warnings")?,
            fallback_codes: match open(r.fallback_codes)? {
                Some(t) => list(&id, &t, "fallback_codes")?,
                None => Vec::new(),
            },
            checked_at: r.checked_at,
            next_check_at: r.next_check_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            id: parse("reservations", &id, "id", &id)?,
        };
        out.status = out.status_at(now);
        let _ = r.applied_version;
        Ok(out)
    }

    /// Inserts a reservation; `StoreError::Conflict` when the property has its external id.
    pub async fn insert_reservation(&self, r: &Reservation) -> Result<()> {
        let id = r.id.to_string();
        let seal = |v: &Option<String>| v.as_ref().map(|t| self.cipher.seal(&id, t.as_bytes()));
        let fallbacks = (!r.fallback_codes.is_empty())
            .then(|| self.cipher.seal(&id, text(&r.fallback_codes).as_bytes()));
        let sql = insert_into("reservations", COLUMNS);
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(id.clone())
            .bind(r.org_id.to_string())
            .bind(r.property_id.to_string())
            .bind(r.external_id.clone())
            .bind(r.source.clone())
            .bind(r.guest_name.clone())
            .bind(seal(&r.phone_last4))
            .bind(seal(&r.code))
            .bind(r.check_in_at)
            .bind(r.check_out_at)
            .bind(i64::from(r.cancelled))
            .bind(r.grant_id.map(|g| g.to_string()))
            .bind(json_text(&r.readiness))
            .bind(text(&r.reasons))
            .bind(text(&r.warnings))
            .bind(fallbacks)
            .bind(r.checked_at)
            .bind(r.next_check_at)
            .bind(r.version)
            .bind(0_i64)
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(db).await.map(|r| r.rows_affected()))
        .map_err(crate::codes::code_conflict)?;
        Ok(())
    }

    /// Writes every changeable field of `r` if the row is still at `expected`, with `events` in
    /// the same transaction. `applied`: `Some(true)` records the stay's grant as brought to the
    /// new version, `Some(false)` as behind it (the write changed what the grant wants), `None`
    /// leaves it where it was (a write the grant does not follow: readiness, warnings).
    pub async fn update_reservation_if(
        &self,
        r: &mut Reservation,
        expected: i64,
        applied: Option<bool>,
        now: Millis,
        events: &[Event],
    ) -> Result<bool> {
        let id = r.id.to_string();
        let seal = |v: &Option<String>| v.as_ref().map(|t| self.cipher.seal(&id, t.as_bytes()));
        let fallbacks = (!r.fallback_codes.is_empty())
            .then(|| self.cipher.seal(&id, text(&r.fallback_codes).as_bytes()));
        let mut tx = self.write_tx().await?;
        let done = on!(&mut tx, t => {
            let mut q = QueryBuilder::new("UPDATE reservations SET version = version + 1");
            q.push(", guest_name = ").push_bind(r.guest_name.clone());
            q.push(", phone_last4 = ").push_bind(seal(&r.phone_last4));
            q.push(", code = ").push_bind(seal(&r.code));
            q.push(", check_in_at = ").push_bind(r.check_in_at);
            q.push(", check_out_at = ").push_bind(r.check_out_at);
            q.push(", cancelled = ").push_bind(i64::from(r.cancelled));
            q.push(", grant_id = ").push_bind(r.grant_id.map(|g| g.to_string()));
            q.push(", readiness = ").push_bind(json_text(&r.readiness));
            q.push(", reasons = ").push_bind(text(&r.reasons));
            q.push(", warnings = ").push_bind(text(&r.warnings));
            q.push(", fallback_codes = ").push_bind(fallbacks);
            q.push(", checked_at = ").push_bind(r.checked_at);
            q.push(", next_check_at = ").push_bind(r.next_check_at);
            q.push(", updated_at = ").push_bind(now);
            match applied {
                Some(true) => {
                    q.push(", applied_version = ").push_bind(expected + 1);
                }
                Some(false) => {}
                None => {
                    q.push(", applied_version = CASE WHEN applied_version = version THEN version + 1 ELSE applied_version END");
                }
            }
            q.push(" WHERE id = ").push_bind(id.clone());
            q.push(" AND version = ").push_bind(expected);
            q.build().execute(&mut **t).await.map(|r| r.rows_affected())
        })?;
        if done != 1 {
            return Ok(false);
        }
        self.insert_events(&mut tx, events).await?;
        tx.commit().await?;
        r.version = expected + 1;
        r.updated_at = now;
        r.status = r.status_at(now);
        Ok(true)
    }

    async fn reservations_where(
        &self,
        clause: &str,
        binds: &[String],
        now: Millis,
        tail: &str,
    ) -> Result<Vec<Reservation>> {
        let sql = format!("SELECT {COLUMNS} FROM reservations WHERE {clause} {tail}");
        let rows = on!(&self.pool, db => {
            let mut q = sqlx::query_as::<_, ReservationRow>(&sql);
            for b in binds {
                q = q.bind(b.clone());
            }
            q.fetch_all(db).await
        })?;
        rows.into_iter().map(|r| self.reservation(r, now)).collect()
    }

    pub async fn reservation_by_external(
        &self,
        property: PropertyId,
        external_id: &str,
        now: Millis,
    ) -> Result<Option<Reservation>> {
        let found = self
            .reservations_where(
                "property_id = $1 AND external_id = $2",
                &[property.to_string(), external_id.to_owned()],
                now,
                "",
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// The organisation's reservation (`org` `None`: any organisation's, for workers).
    pub async fn get_reservation(
        &self,
        org: Option<OrgId>,
        id: ReservationId,
        now: Millis,
    ) -> Result<Option<Reservation>> {
        let found = self
            .reservations_where(
                "id = $1 AND ($2 = '' OR org_id = $2)",
                &[
                    id.to_string(),
                    org.map(|o| o.to_string()).unwrap_or_default(),
                ],
                now,
                "",
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// The reservations a calendar (or any `source`) gave a property.
    pub async fn reservations_from(
        &self,
        property: PropertyId,
        source: &str,
        now: Millis,
    ) -> Result<Vec<Reservation>> {
        self.reservations_where(
            "property_id = $1 AND source = $2",
            &[property.to_string(), source.to_owned()],
            now,
            "ORDER BY id",
        )
        .await
    }

    /// A page of the organisation's reservations by check-in, then id.
    pub async fn list_reservations(
        &self,
        org: OrgId,
        filter: &ReservationFilter,
        limit: u32,
        after: Option<ReservationId>,
        now: Millis,
    ) -> Result<Vec<Reservation>> {
        let rows = on!(&self.pool, db => {
            let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM reservations WHERE org_id = "));
            q.push_bind(org.to_string());
            q.push(" AND id > ").push_bind(after.map(|a| a.to_string()).unwrap_or_default());
            if let Some(p) = filter.property {
                q.push(" AND property_id = ").push_bind(p.to_string());
            }
            if let Some(from) = filter.from {
                q.push(" AND check_out_at > ").push_bind(from);
            }
            if let Some(to) = filter.to {
                q.push(" AND check_in_at < ").push_bind(to);
            }
            match filter.status {
                None => {}
                Some(ReservationStatus::Cancelled) => {
                    q.push(" AND cancelled = 1");
                }
                Some(status) => {
                    q.push(" AND cancelled = 0");
                    match status {
                        ReservationStatus::Upcoming => q.push(" AND check_in_at > ").push_bind(now),
                        ReservationStatus::Active => q
                            .push(" AND check_in_at <= ")
                            .push_bind(now)
                            .push(" AND check_out_at > ")
                            .push_bind(now),
                        _ => q.push(" AND check_out_at <= ").push_bind(now),
                    };
                }
            }
            q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
            q.build_query_as::<ReservationRow>().fetch_all(db).await
        })?;
        rows.into_iter().map(|r| self.reservation(r, now)).collect()
    }

    /// Reservations whose grant is behind them (a change an instance did not finish), up to
    /// `limit`.
    pub async fn unapplied_reservations(
        &self,
        limit: u32,
        now: Millis,
    ) -> Result<Vec<Reservation>> {
        self.reservations_where(
            "applied_version < version",
            &[],
            now,
            &format!("ORDER BY updated_at LIMIT {limit}"),
        )
        .await
    }

    /// Claims up to `limit` reservations whose readiness check is due: each one's next check
    /// moves to `lease_until` in the same statement, so one instance checks it; the checker
    /// sets the next one when it is done.
    pub async fn claim_readiness_checks(
        &self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<Reservation>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE reservations SET next_check_at = $1 WHERE id IN (\
             SELECT id FROM reservations WHERE next_check_at <= $2 AND cancelled = 0 \
             ORDER BY next_check_at LIMIT $3{skip_locked}) AND next_check_at <= $2 RETURNING {COLUMNS}"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, ReservationRow>(&sql)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.reservation(r, now)).collect()
    }
}
