//! The ticket's AES: the key sealed under the project secret (AES-256-ECB), the PIN opened with
//! the key (AES-128-ECB), both PKCS#7.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};

pub(super) fn hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

pub(super) fn from_hex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// `ticket_key`: the 16-byte key encrypted with AES-256-ECB (PKCS#7) under the secret.
pub fn seal_ticket_key(secret: &str, key: &[u8; 16]) -> String {
    let Ok(cipher) = aes::Aes256::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    let mut data = key.to_vec();
    data.extend([16u8; 16]);
    for block in data.chunks_mut(16) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    hex(&data)
}

/// The PIN inside `password` (hex of AES-128-ECB/PKCS#7 under the ticket's key; either case).
pub(super) fn open_password(key: &[u8; 16], password: &str) -> Option<String> {
    let cipher = aes::Aes128::new_from_slice(key).ok()?;
    let mut data = from_hex(password)?;
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    for block in data.chunks_mut(16) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(*data.last()?);
    if pad == 0
        || pad > 16
        || pad > data.len()
        || !data[data.len() - pad..]
            .iter()
            .all(|&b| usize::from(b) == pad)
    {
        return None;
    }
    data.truncate(data.len() - pad);
    String::from_utf8(data).ok()
}
