//! TTLock keyboard passwords as access codes, written through the lock's gateway.

use super::*;

#[async_trait]
impl Codes for TtlockProvider {
    async fn list_codes(
        &self,
        conn: &Connection,
        lock: &Lock,
    ) -> ProviderResult<Vec<ProviderCode>> {
        let client = self.session(conn)?;
        let all = self
            .calls
            .run(
                conn.id,
                "/v3/lock/listKeyboardPwd",
                client.all_passcodes(lock_id(lock)?, None),
            )
            .await?;
        Ok(all.iter().map(spec_of).collect())
    }

    async fn create_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        spec: &CodeSpec,
    ) -> ProviderResult<String> {
        let validity = match (spec.starts_at, spec.ends_at) {
            (Some(s), Some(e)) => Validity::Period {
                start: s.into(),
                end: e.into(),
            },
            _ => Validity::Permanent,
        };
        let new = NewPasscode {
            lock_id: lock_id(lock)?,
            passcode: spec.code.clone(),
            name: spec.name.clone(),
            validity,
            via: WriteVia::Gateway,
        };
        let id = self
            .via_gateway(conn, lock, "/v3/keyboardPwd/add", |c| {
                let new = new.clone();
                async move { c.add_passcode(&new).await }
            })
            .await?;
        Ok(id.to_string())
    }

    async fn update_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        change: &CodeChange,
    ) -> ProviderResult<()> {
        let pid: i64 = provider_id
            .parse()
            .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a TTLock passcode id"))?;
        let change = PasscodeChange {
            name: change.name.clone(),
            passcode: change.code.clone(),
            start: change.period.map(|p| p.0.into()),
            end: change.period.map(|p| p.1.into()),
            via: WriteVia::Gateway,
        };
        let id = lock_id(lock)?;
        self.via_gateway(conn, lock, "/v3/keyboardPwd/change", |c| {
            let change = change.clone();
            async move { c.change_passcode(id, pid, &change).await }
        })
        .await
    }

    async fn delete_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<()> {
        let pid: i64 = provider_id
            .parse()
            .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a TTLock passcode id"))?;
        let id = lock_id(lock)?;
        self.via_gateway(conn, lock, "/v3/keyboardPwd/delete", |c| async move {
            c.delete_passcode(id, pid).await
        })
        .await
    }
}
