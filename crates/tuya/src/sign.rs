//! Tuya's request signature (HMAC-SHA256 over the string-to-sign), and the AES steps of the
//! password ticket.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `bytes`.
pub fn content_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes), false)
}

fn hex(bytes: &[u8], upper: bool) -> String {
    if upper {
        hex::encode_upper(bytes)
    } else {
        hex::encode(bytes)
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// The URL as signed: the path, then `?` and the query pairs sorted by key, raw (not
/// URL-encoded) values joined with `&`.
pub fn canonical_url(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let mut pairs: Vec<&(&str, String)> = query.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", joined.join("&"))
}

/// `METHOD\nsha256(body)\n<name:value\n for each signed header>\nURL`.
pub fn string_to_sign(
    method: &str,
    body: &[u8],
    signed_headers: &[(&str, &str)],
    url: &str,
) -> String {
    let headers: String = signed_headers
        .iter()
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect();
    format!("{method}\n{}\n{headers}\n{url}", content_sha256(body))
}

/// `HEX(HMAC-SHA256(secret, client_id + access_token + t + nonce + stringToSign))`, uppercase.
/// The token calls sign without an access token (pass `""`).
pub fn sign(
    secret: &str,
    client_id: &str,
    access_token: &str,
    t: &str,
    nonce: &str,
    sts: &str,
) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    for part in [client_id, access_token, t, nonce, sts] {
        mac.update(part.as_bytes());
    }
    hex(&mac.finalize().into_bytes(), true)
}

fn pkcs7_pad(data: &[u8]) -> Vec<u8> {
    let n = 16 - data.len() % 16;
    let mut out = data.to_vec();
    out.extend(std::iter::repeat_n(n as u8, n));
    out
}

/// The ticket's original key: `ticket_key` (hex) decrypted with AES-256-ECB under the access
/// secret, PKCS#7 padding removed; its first 16 bytes.
pub fn ticket_key(access_secret: &str, ticket_key_hex: &str) -> Option<[u8; 16]> {
    let cipher = aes::Aes256::new_from_slice(access_secret.as_bytes()).ok()?;
    let mut data = unhex(ticket_key_hex)?;
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    for block in data.chunks_mut(16) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    // 16 bytes of key and a full block of PKCS#7 padding: the key is the first 16 bytes
    // (which is also what unpadding leaves).
    data.get(..16)?.try_into().ok()
}

/// The PIN as Tuya wants it: AES-128-ECB under the ticket's key, PKCS#7, uppercase hex.
pub fn encrypt_pin(key: &[u8; 16], pin: &str) -> String {
    let Ok(cipher) = aes::Aes128::new_from_slice(key) else {
        return String::new();
    };
    let mut data = pkcs7_pad(pin.as_bytes());
    for block in data.chunks_mut(16) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    hex(&data, true)
}

#[cfg(test)]
mod tests {
    //! The signing and encryption test vectors, and Tuya's own worked example.
    use super::*;

    const CID: &str = "1KAD46OrT9HafiKdsXeg";
    const SEC: &str = "4OHBOnWOqaEC1mWXOpVL3yV50s0qGSRC";
    const TOK: &str = "3f4eda2bdec17232f67c0b188af3eec1";
    const T: &str = "1588925778000";
    const NONCE: &str = "5138cc3a9033d69856923fd07b491173";
    const DEV: &str = "vdevo15345926009xxxx";

    #[test]
    fn empty_bodies() {
        assert_eq!(
            content_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            content_sha256(b"{}"),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn vector_a_token() {
        let url = canonical_url("/v1.0/token", &[("grant_type", "1".into())]);
        let sts = string_to_sign("GET", b"", &[], &url);
        assert_eq!(
            sts,
            "GET\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\n/v1.0/token?grant_type=1"
        );
        assert_eq!(
            sign(SEC, CID, "", T, "", &sts),
            "7BA26C076E5ECB1E959BE274A0FFB397B2B1865FC7BCED8F1C78AC5653C20CAA"
        );
    }

    #[test]
    fn vector_b_refresh() {
        let sts = string_to_sign(
            "GET",
            b"",
            &[],
            "/v1.0/token/7245ecbc34f0fc8344e2495291342145",
        );
        assert_eq!(
            sign(SEC, CID, "", T, "", &sts),
            "7072A1E3251E9CC95BBED62764B5127E429E6B9420209313AF242FDF64E417AC"
        );
    }

    #[test]
    fn vector_c_ticket() {
        let sts = string_to_sign(
            "POST",
            b"",
            &[],
            &format!("/v1.0/devices/{DEV}/door-lock/password-ticket"),
        );
        assert_eq!(
            sign(SEC, CID, TOK, T, "", &sts),
            "855D455A1900BA3745A859715CC54DF330FECF205543EC7C8F2B85A05796A8FC"
        );
    }

    #[test]
    fn vector_d_sorted_query() {
        let q = [
            ("page_no", "1".to_owned()),
            ("page_size", "20".to_owned()),
            ("start_time", "1543213146".to_owned()),
            ("end_time", "1543213546".to_owned()),
        ];
        let url = canonical_url(&format!("/v1.0/devices/{DEV}/door-lock/open-logs"), &q);
        assert_eq!(
            url,
            format!(
                "/v1.0/devices/{DEV}/door-lock/open-logs?end_time=1543213546&page_no=1&page_size=20&start_time=1543213146"
            )
        );
        let sts = string_to_sign("GET", b"", &[], &url);
        assert_eq!(
            sign(SEC, CID, TOK, T, "", &sts),
            "2FC3A58D3860EE878F11348876AA683EE38F1FDCBDC1C8428337B92DD31136FF"
        );
    }

    #[test]
    fn vector_e_encrypted_password_body() {
        let ticket = "6D84C05BA0BAA4C61242CC349AF8DFFA9173247C8D56147E406EBA159F6E577A";
        let key = ticket_key(SEC, ticket).unwrap();
        assert_eq!(&key, b"9a3f4c1e7b2d8e60");
        assert_eq!(ticket_key(SEC, &ticket.to_lowercase()).unwrap(), key);
        assert_eq!(
            encrypt_pin(&key, "1234567"),
            "D77B4B6C5A28B618D1F05E294AFB30FC"
        );
        assert_eq!(
            encrypt_pin(&key, "123456"),
            "61BE96547035B7D99AFB11485ED25627"
        );
        let body = r#"{"name":"guest","password":"D77B4B6C5A28B618D1F05E294AFB30FC","password_type":"ticket","ticket_id":"9wxxoLM","effective_time":1700000000,"invalid_time":1700086400,"time_zone":""}"#;
        assert_eq!(
            content_sha256(body.as_bytes()),
            "7af4b9da089696e2bc3d86884b2da98547738bbdd2720d039936f3d44de3ff71"
        );
        let sts = string_to_sign(
            "POST",
            body.as_bytes(),
            &[],
            &format!("/v1.0/devices/{DEV}/door-lock/temp-password"),
        );
        assert_eq!(
            sign(SEC, CID, TOK, T, "", &sts),
            "719D99B6685EA2226134EB4EB029DFEB5ACEDFADEED80C41CF02DD749C6F154A"
        );
    }

    #[test]
    fn vector_f_nonce_and_signature_headers() {
        let sts = string_to_sign(
            "POST",
            b"",
            &[("client_id", CID)],
            &format!("/v1.0/devices/{DEV}/door-lock/password-ticket"),
        );
        assert_eq!(
            sign(SEC, CID, TOK, T, NONCE, &sts),
            "A9616FE9D2D38063DFC84AB79CD5119CF55C0CB5F2E14C25DA37D6EFB3644AE6"
        );
    }

    #[test]
    fn tuyas_worked_example_with_two_signed_headers() {
        let headers = [
            ("area_id", "29a33e8796834b1efa6"),
            ("call_id", "8afdb70ab2ed11eb85290242ac130003"),
        ];
        let sts = string_to_sign("GET", b"", &headers, "/v1.0/token?grant_type=1");
        assert_eq!(
            sign(SEC, CID, "", T, NONCE, &sts),
            "9E48A3E93B302EEECC803C7241985D0A34EB944F40FB573C7B5C2A82158AF13E"
        );
        let url = canonical_url(
            "/v2.0/apps/schema/users",
            &[("page_size", "50".into()), ("page_no", "1".into())],
        );
        let sts = string_to_sign("GET", b"", &headers, &url);
        assert_eq!(
            sign(SEC, CID, TOK, T, NONCE, &sts),
            "AE4481C692AA80B25F3A7E12C3A5FD9BBF6251539DD78E565A1A72A508A88784"
        );
    }

    #[test]
    fn legacy_vector_of_the_node_connector() {
        // The legacy scheme is HMAC over client_id + access_token + t, no string-to-sign.
        let s = sign(
            "this-is-mock-secretKey",
            "this-is-mock-accessKey",
            "c5b8e7f847d1382d242e90a93be291cc",
            "1615274964146",
            "",
            "",
        );
        assert_eq!(
            s,
            "625F3177068C99E176760A64D598D0D6066798B19C2C5C374A424D4CE7E277FA"
        );
    }

    #[test]
    fn bad_ticket_keys_are_refused() {
        assert!(ticket_key(SEC, "zz").is_none());
        assert!(ticket_key(SEC, "ABCD").is_none());
        assert!(ticket_key("short", "6D84C05BA0BAA4C61242CC349AF8DFFA").is_none());
    }
}
