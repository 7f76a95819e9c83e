//! Tedee PINs as access codes, weekly windows included.

use super::*;

#[async_trait]
impl Codes for TedeeProvider {
    /// The lock's PINs. The list carries ids and aliases only, so each PIN is read once per
    /// change of the lock's list version; an unchanged list (304) costs one request. A PIN
    /// deleted between the list and its own read (404) means the list is already old: it is
    /// read once more, and a PIN gone again then is left out (and that list not kept).
    async fn list_codes(
        &self,
        conn: &Connection,
        lock: &Lock,
    ) -> ProviderResult<Vec<ProviderCode>> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let mut cached = self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(conn.id, id))
            .cloned();
        for last_try in [false, true] {
            let list = self
                .calls
                .run(
                    conn.id,
                    "my/lock/pin",
                    client.pins(id, cached.as_ref().map(|c| c.0)),
                )
                .await?;
            let Some(list) = list else {
                return Ok(cached.map(|c| c.1).unwrap_or_default());
            };
            let mut codes = Vec::with_capacity(list.pins.len());
            let mut complete = true;
            for summary in &list.pins {
                match self
                    .calls
                    .run(conn.id, "my/lock/pin/{id}", client.pin(id, summary.id))
                    .await
                {
                    Ok(pin) => codes.push(code_of(pin, lock.time_zone.as_deref())),
                    Err(e) if e.kind == ErrorKind::NotFound => complete = false,
                    Err(e) => return Err(e),
                }
            }
            if complete {
                self.pins
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((conn.id, id), (list.list_version, codes.clone()));
            }
            if complete || last_try {
                return Ok(codes);
            }
            cached = None;
        }
        unreachable!("the last try returns")
    }

    async fn create_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        spec: &CodeSpec,
    ) -> ProviderResult<String> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let period = spec.starts_at.zip(spec.ends_at);
        let pin = pin_of(
            spec.name.as_deref(),
            &spec.code,
            period,
            spec.schedule.as_ref(),
        );
        let created = self
            .calls
            .run(conn.id, "my/lock/pin (create)", client.create_pin(id, &pin))
            .await;
        self.forget_pins(conn, id);
        Ok(created?.to_string())
    }

    /// Tedee replaces a PIN whole: what the change leaves out is read from the lock first.
    async fn update_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        change: &CodeChange,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let pin_id: i64 = provider_id
            .parse()
            .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a Tedee PIN id"))?;
        let current = self
            .calls
            .run(conn.id, "my/lock/pin/{id}", client.pin(id, pin_id))
            .await?;
        let name = change.name.clone().or(Some(current.alias.clone()));
        let code = change.code.clone().unwrap_or(current.pin);
        let pin = pin_of(
            name.as_deref(),
            &code,
            change.period,
            change.schedule.as_ref(),
        );
        let updated = self
            .calls
            .run(
                conn.id,
                "my/lock/pin (update)",
                client.update_pin(id, pin_id, &pin),
            )
            .await;
        self.forget_pins(conn, id);
        updated
    }

    async fn delete_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let pin_id: i64 = provider_id
            .parse()
            .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a Tedee PIN id"))?;
        let deleted = self
            .calls
            .run(
                conn.id,
                "my/lock/pin (delete)",
                client.delete_pin(id, pin_id),
            )
            .await;
        self.forget_pins(conn, id);
        deleted
    }
}
