//! Secrets at rest: AES-256-GCM under the master key, each value bound to its row.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StoreError;

const NONCE: usize = 12;

/// The master key. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// 64 hexadecimal characters.
    pub fn from_hex(hex: &str) -> Result<Self, StoreError> {
        let hex = hex.trim();
        let bad = || StoreError::MasterKey("must be 64 hexadecimal characters (32 bytes)".into());
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex, &mut key).map_err(|_| bad())?;
        Ok(MasterKey(key))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(****)")
    }
}

#[derive(Clone)]
pub(crate) struct Cipher {
    aead: Aes256Gcm,
    pin_key: [u8; 32],
    hook_key: [u8; 32],
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher")
    }
}

impl Cipher {
    pub(crate) fn new(key: &MasterKey) -> Self {
        Cipher {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.0)),
            // Keys of their own for PIN hashes and vendor hook paths, derived from the master key.
            pin_key: mac(&key.0, &[b"lockbridge pin hash v1"]),
            hook_key: mac(&key.0, &[b"lockbridge vendor hook v1"]),
        }
    }

    /// The secret in the path a vendor posts a connection's events to: 32 hex digits, the same
    /// on every instance, and nothing to guess it from without the master key.
    pub(crate) fn hook_secret(&self, connection: &str) -> String {
        hex::encode(&mac(&self.hook_key, &[connection.as_bytes()])[..16])
    }

    /// A keyed hash of `pin` on `lock`: equal for the same PIN on the same lock, and telling
    /// nothing without the master key. `None` for an empty PIN (a vendor that does not report
    /// PINs).
    pub(crate) fn pin_hash(&self, lock: &str, pin: &str) -> Option<String> {
        if pin.is_empty() {
            return None;
        }
        Some(hex::encode(mac(
            &self.pin_key,
            &[lock.as_bytes(), &[0], pin.as_bytes()],
        )))
    }

    /// `nonce || ciphertext`; `row` (e.g. the row id) is authenticated with it, so a value
    /// moved to another row does not decrypt.
    pub(crate) fn seal(&self, row: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption only fails for inputs over 64 GiB.
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: row.as_bytes(),
                },
            )
            .unwrap_or_default();
        out.extend(sealed);
        out
    }

    pub(crate) fn open(&self, row: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE {
            return Err(StoreError::Decrypt);
        }
        let (nonce, data) = sealed.split_at(NONCE);
        self.aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: data,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Decrypt)
    }

    pub(crate) fn open_string(&self, row: &str, sealed: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(self.open(row, sealed)?).map_err(|_| StoreError::Decrypt)
    }
}

/// HMAC-SHA256 of `parts` under `key`.
fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Random bytes as lowercase hex (API keys).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_row_binding() {
        let key = MasterKey::generate();
        let c = Cipher::new(&key);
        let sealed = c.seal("con_1", b"secret");
        assert_eq!(c.open("con_1", &sealed).unwrap(), b"secret");
        assert!(c.open("con_2", &sealed).is_err(), "bound to its row");
        let other = Cipher::new(&MasterKey::generate());
        assert!(
            other.open("con_1", &sealed).is_err(),
            "another key cannot read it"
        );
        assert_eq!(MasterKey::from_hex(&key.to_hex()).unwrap().0, key.0);
        assert!(MasterKey::from_hex("abc").is_err());
        assert!(
            MasterKey::from_hex(&"é".repeat(32)).is_err(),
            "non-ASCII, no panic"
        );
        assert_eq!(c.pin_hash("lck_1", "1234"), c.pin_hash("lck_1", "1234"));
        assert_ne!(c.pin_hash("lck_1", "1234"), c.pin_hash("lck_2", "1234"));
        assert_ne!(c.pin_hash("lck_1", "1234"), other.pin_hash("lck_1", "1234"));
        assert_eq!(c.pin_hash("lck_1", ""), None);
        let hook = c.hook_secret("con_1");
        assert_eq!(hook.len(), 32);
        assert_eq!(
            hook,
            Cipher::new(&key).hook_secret("con_1"),
            "every instance's"
        );
        assert_ne!(hook, c.hook_secret("con_2"));
        assert_ne!(hook, other.hook_secret("con_1"));
        assert!(!format!("{key:?}").contains(&key.to_hex()[..8]));
    }
}
