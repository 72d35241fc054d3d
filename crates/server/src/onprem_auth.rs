//! On-Prem's login: `POST /v1/users/login` with HTTP basic auth `admin:<API key>`
//! answers a bearer token that `/v1` routes accept for 7 days, as On-Prem's do.
//!
//! Tokens are stateless: 16 random bytes, the expiry (Unix ms) and an HMAC-SHA256 of
//! both under the API key, hex-encoded. Nothing is stored, so they survive restarts
//! and cost no table; changing the API key revokes every token at once. Verification
//! recomputes the MAC and compares it in constant time (`Mac::verify_slice`).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::auth::ApiKey;

/// How long a token is valid: On-Prem's 7 days.
pub const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The only user On-Prem's basic auth knows here.
const ADMIN: &str = "admin";

/// Domain separation: the key also authenticates requests directly.
const CONTEXT: &[u8] = b"wacontacts onprem token v1";

const NONCE: usize = 16;
const EXPIRY: usize = 8;
const TAG: usize = 32;

fn mac(key: &ApiKey, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.secret())
        .expect("HMAC takes keys of any length");
    mac.update(CONTEXT);
    mac.update(body);
    mac
}

/// A new token valid until `expires_ms` (Unix ms).
pub fn issue(key: &ApiKey, expires_ms: i64) -> String {
    let mut body = [0u8; NONCE + EXPIRY];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut body[..NONCE]);
    body[NONCE..].copy_from_slice(&expires_ms.to_be_bytes());
    let tag = mac(key, &body).finalize().into_bytes();
    let mut token = String::with_capacity(2 * (NONCE + EXPIRY + TAG));
    for b in body.iter().chain(tag.iter()) {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

/// Whether `token` was issued under `key` and has not expired at `now_ms`.
pub fn verify(key: &ApiKey, token: &str, now_ms: i64) -> bool {
    let Some(bytes) = from_hex(token.trim()) else {
        return false;
    };
    if bytes.len() != NONCE + EXPIRY + TAG {
        return false;
    }
    let (body, tag) = bytes.split_at(NONCE + EXPIRY);
    if mac(key, body).verify_slice(tag).is_err() {
        return false;
    }
    let mut expiry = [0u8; EXPIRY];
    expiry.copy_from_slice(&body[NONCE..]);
    now_ms < i64::from_be_bytes(expiry)
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Whether an `Authorization: Basic …` value names `admin` with the API key.
pub fn basic_matches(key: &ApiKey, header: &[u8]) -> bool {
    let Some(encoded) = header.strip_prefix(b"Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii()) else {
        return false;
    };
    match decoded.split(|b| *b == b':').next() {
        Some(user) if user == ADMIN.as_bytes() => key.matches(&decoded[ADMIN.len() + 1..]),
        _ => false,
    }
}

/// The token of an `Authorization: Bearer …` value.
pub fn bearer(header: &[u8]) -> Option<&str> {
    std::str::from_utf8(header.strip_prefix(b"Bearer ")?).ok()
}

/// On-Prem's `expires_after`: `2018-03-01 15:29:26+00:00` (UTC).
pub fn format_expiry(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire_and_only_under_their_key() {
        let key = ApiKey::new("secret");
        let token = issue(&key, 10_000);
        assert!(verify(&key, &token, 9_999));
        assert!(!verify(&key, &token, 10_000), "expired");
        assert!(!verify(&ApiKey::new("other"), &token, 0), "another key");
        assert_ne!(issue(&key, 10_000), token, "random");
        let mut forged = token.clone();
        forged.replace_range(40..42, if &token[40..42] == "00" { "01" } else { "00" });
        assert!(!verify(&key, &forged, 0), "expiry changed");
        assert!(!verify(&key, "garbage", 0));
        assert!(!verify(&key, "", 0));
    }

    #[test]
    fn basic_auth_is_admin_and_the_key() {
        let key = ApiKey::new("k:ey");
        let b = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(basic_matches(&key, b("admin:k:ey").as_bytes()));
        assert!(!basic_matches(&key, b("admin:k").as_bytes()));
        assert!(!basic_matches(&key, b("root:k:ey").as_bytes()));
        assert!(!basic_matches(&key, b"Basic !!"));
        assert!(!basic_matches(&key, b"Bearer x"));
    }

    #[test]
    fn expiry_is_on_prems_date_format() {
        assert_eq!(
            format_expiry(1_519_918_166_000),
            "2018-03-01 15:29:26+00:00"
        );
        assert_eq!(format_expiry(0), "1970-01-01 00:00:00+00:00");
        assert_eq!(format_expiry(951_782_400_000), "2000-02-29 00:00:00+00:00");
    }
}
