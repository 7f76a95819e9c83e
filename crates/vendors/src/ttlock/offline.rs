//! TTLock's algorithmic codes: random passcodes the lock computes itself, of every kind TTLock
//! has (cyclic ones included), taken off through the gateway like any other.

use async_trait::async_trait;
use lockbridge_core::model::{Connection, Lock, Provider};
use lockbridge_core::provider::{OfflineCode, OfflineCodes, OfflineKind, ProviderResult};
use lockbridge_core::time::Millis;
use lockbridge_ttlock::{RandomKind, RandomPasscodeRequest};

use super::{P, TtlockProvider, lock_id};

#[async_trait]
impl OfflineCodes for TtlockProvider {
    async fn offline_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        kind: OfflineKind,
        name: Option<&str>,
        period: (Millis, Option<Millis>),
    ) -> ProviderResult<OfflineCode> {
        let client = self.session(conn)?;
        let req = RandomPasscodeRequest {
            lock_id: lock_id(lock)?,
            kind: match kind {
                OfflineKind::OneTime => RandomKind::OneTime,
                OfflineKind::Permanent => RandomKind::Permanent,
                OfflineKind::TimeBound => RandomKind::Period,
                OfflineKind::Weekend => RandomKind::Weekend,
                OfflineKind::Daily => RandomKind::Daily,
                OfflineKind::Workday => RandomKind::Workday,
                OfflineKind::Monday => RandomKind::Monday,
                OfflineKind::Tuesday => RandomKind::Tuesday,
                OfflineKind::Wednesday => RandomKind::Wednesday,
                OfflineKind::Thursday => RandomKind::Thursday,
                OfflineKind::Friday => RandomKind::Friday,
                OfflineKind::Saturday => RandomKind::Saturday,
                OfflineKind::Sunday => RandomKind::Sunday,
            },
            name: name.map(str::to_owned),
            start: period.0.into(),
            end: period.1.map(Into::into),
        };
        let code = self
            .calls
            .run(conn.id, "/v3/keyboardPwd/get", client.random_passcode(&req))
            .await?;
        // TTLock truncates validity to the hour.
        let hour = |t: Millis| t / 3_600_000 * 3_600_000;
        Ok(OfflineCode {
            code: code.keyboard_pwd,
            provider_id: Some(code.keyboard_pwd_id.to_string()),
            starts_at: Some(hour(period.0)),
            ends_at: period.1.map(hour),
        })
    }

    /// A random passcode is deleted like a custom one, through the gateway.
    fn clears_offline_codes(&self) -> bool {
        true
    }

    fn provider(&self) -> Provider {
        P
    }
}
