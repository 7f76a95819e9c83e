//! A lock's keypad passcodes as access codes. A code's vendor id is `{keypad}/{key id}`; its
//! name on the keypad carries a short mark (`Guest #3fa2`) because SwitchBot refuses a name the
//! keypad has already, and the mark is left out when the list is read back.

use super::*;

/// The mark's length: ` #` and four hex digits.
const MARK: usize = 6;

/// The name a new key is written with: the code's (or `lockbridge`), and a mark that makes it
/// unique on the keypad.
fn keypad_name(name: Option<&str>) -> String {
    let base: String = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("lockbridge")
        .chars()
        .take(16)
        .collect();
    let mark = &uuid::Uuid::new_v4().simple().to_string()[..4];
    format!("{base} #{mark}")
}

/// A listed key's name without lockbridge's mark.
fn code_name(name: &str) -> String {
    let marked = name.len() > MARK
        && name.is_char_boundary(name.len() - MARK)
        && name[name.len() - MARK..].starts_with(" #")
        && name[name.len() - 4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit());
    if marked {
        name[..name.len() - MARK].to_owned()
    } else {
        name.to_owned()
    }
}

fn split(provider_id: &str) -> ProviderResult<(&str, i64)> {
    provider_id
        .split_once('/')
        .and_then(|(pad, id)| Some((pad, id.parse().ok()?)))
        .ok_or_else(|| ProviderError::new(P, ErrorKind::NotFound, "not a SwitchBot key id"))
}

impl SwitchBotProvider {
    /// The lock's keypad and its keys, as the list shows them now.
    async fn keys(&self, conn: &Connection, lock: &Lock) -> ProviderResult<(String, Vec<sb::Key>)> {
        let devices = self.devices_of(conn).await?;
        let pad = keypad_of(&devices, &lock.provider_id).ok_or_else(|| {
            ProviderError::new(P, ErrorKind::Unsupported, "the lock has no keypad")
        })?;
        Ok((
            pad.device_id.clone(),
            pad.key_list.clone().unwrap_or_default(),
        ))
    }

    /// Reads the key list until `done` finds what a write made, for up to [`KEY_WAIT`]. The
    /// write went out: a list that cannot be read (the day's budget spent, SwitchBot down) leaves
    /// its outcome unknown, to be checked later.
    async fn follow<T>(
        &self,
        conn: &Connection,
        lock: &Lock,
        what: &str,
        done: impl Fn(&[sb::Key]) -> Option<T>,
    ) -> ProviderResult<T> {
        let started = Instant::now();
        loop {
            let (_, keys) = self
                .keys(conn, lock)
                .await
                .map_err(ProviderError::after_write)?;
            if let Some(found) = done(&keys) {
                return Ok(found);
            }
            if started.elapsed() + self.poll > KEY_WAIT {
                return Err(ProviderError::new(
                    P,
                    ErrorKind::Timeout,
                    format!("the keypad's list did not show the {what} in time"),
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[async_trait]
impl Codes for SwitchBotProvider {
    /// The keypad's valid keys, their passwords decrypted with the secret.
    async fn list_codes(
        &self,
        conn: &Connection,
        lock: &Lock,
    ) -> ProviderResult<Vec<ProviderCode>> {
        let client = self.session(conn)?;
        let (pad, keys) = self.keys(conn, lock).await?;
        keys.iter()
            .filter(|k| k.status.eq_ignore_ascii_case("normal"))
            .map(|k| {
                let code = client.password(k).map_err(|e| map_err(e, false))?;
                Ok(ProviderCode {
                    provider_id: format!("{pad}/{}", k.id),
                    spec: CodeSpec {
                        code,
                        name: Some(code_name(&k.name)),
                        starts_at: None,
                        ends_at: None,
                        schedule: None,
                    },
                }
                .cleaned())
            })
            .collect()
    }

    /// Asks the keypad for the key and follows its list until it holds it.
    async fn create_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        spec: &CodeSpec,
    ) -> ProviderResult<String> {
        let client = self.session(conn)?;
        let (pad, _) = self.keys(conn, lock).await?;
        let key = sb::NewKey {
            name: keypad_name(spec.name.as_deref()),
            password: spec.code.clone(),
            period: spec
                .starts_at
                .zip(spec.ends_at)
                .map(|(from, until)| (from.div_euclid(1000), until.div_euclid(1000))),
        };
        self.calls
            .run(
                conn.id,
                "devices/{id}/commands (createKey)",
                client.create_key(&pad, &key),
            )
            .await?;
        let id = self
            .follow(conn, lock, "new key", |keys| {
                keys.iter().find(|k| k.name == key.name).map(|k| k.id)
            })
            .await?;
        Ok(format!("{pad}/{id}"))
    }

    /// A passcode cannot be changed on the keypad: a change is a new code.
    async fn update_code(
        &self,
        _conn: &Connection,
        _lock: &Lock,
        _provider_id: &str,
        _change: &CodeChange,
    ) -> ProviderResult<()> {
        Err(unsupported(
            P,
            "change a passcode on the keypad (revoke it and issue another)",
        ))
    }

    /// Asks the keypad to delete the key and follows its list until the key is gone.
    async fn delete_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let (pad, id) = split(provider_id)?;
        let (_, keys) = self.keys(conn, lock).await?;
        if !keys.iter().any(|k| k.id == id) {
            return Ok(());
        }
        self.calls
            .run(
                conn.id,
                "devices/{id}/commands (deleteKey)",
                client.delete_key(pad, id),
            )
            .await?;
        self.follow(conn, lock, "deletion", |keys| {
            (!keys.iter().any(|k| k.id == id)).then_some(())
        })
        .await
    }

    /// The key list keeps no times.
    fn lists_periods(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_comes_and_goes() {
        let name = keypad_name(Some("Guest"));
        assert!(name.starts_with("Guest #") && name.len() == "Guest".len() + MARK);
        assert_eq!(code_name(&name), "Guest");
        assert_eq!(code_name("Set in the app"), "Set in the app");
        assert_eq!(code_name("#beef"), "#beef");
        assert_eq!(code_name(&keypad_name(None)), "lockbridge");
        assert!(
            keypad_name(Some("A very long name for a keypad")).starts_with("A very long name #")
        );
        assert_eq!(split("C77C293BEB59/15").ok(), Some(("C77C293BEB59", 15)));
        assert!(split("15").is_err());
    }
}
