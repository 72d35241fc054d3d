//! API-key authentication: `X-Api-Key` on every route but the public ones, compared in
//! constant time. The key is configured (`WACONTACTS_API_KEY`) or generated once and kept
//! in the data dir with mode 0600.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// File name of the generated key inside the data dir.
pub const KEY_FILE: &str = "api-key";

/// Routes anyone may call: liveness and the API's own documentation (it holds no data);
/// the dashboard's page and assets are public too (`api::dashboard::PUBLIC_PATHS`).
const PUBLIC_PATHS: &[&str] = &["/health", "/ping", "/openapi.json"];
const PUBLIC_PREFIXES: &[&str] = &["/docs"];

/// The secret clients must present. Its Debug and Display never show it.
#[derive(Clone)]
pub struct ApiKey(Arc<str>);

/// Where the key in force came from, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Set explicitly (environment or config file).
    Configured,
    /// Read from, or generated into, this file.
    File(PathBuf),
}

impl ApiKey {
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        Self(key.into())
    }

    /// Compares in constant time (for equal lengths; the length of a key is no secret).
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }

    /// The key's bytes, for deriving On-Prem's tokens from it.
    pub(crate) fn secret(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Returns the explicit key if given, else the key stored in `data_dir`, generating
    /// and storing one (mode 0600) on first start.
    pub fn resolve(explicit: Option<String>, data_dir: &Path) -> anyhow::Result<(Self, KeySource)> {
        if let Some(key) = explicit {
            anyhow::ensure!(!key.trim().is_empty(), "The configured API key is empty");
            return Ok((Self::new(key), KeySource::Configured));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                return Ok((Self::new(text.trim().to_owned()), KeySource::File(path)));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("Failed to read {}", path.display()));
            }
        }
        let key = generate_key();
        write_private(&path, &key)?;
        Ok((Self::new(key), KeySource::File(path)))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// 32 random bytes, hex-encoded.
fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("Failed to create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .with_context(|| format!("Failed to write {}", path.display()))?;
    Ok(())
}

fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
        || PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p))
        || crate::api::dashboard::PUBLIC_PATHS.contains(&path)
}

/// Middleware: lets public routes through; everything else needs the key.
pub async fn require_api_key(State(key): State<ApiKey>, request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let header = request.headers().get("x-api-key").map(|v| v.as_bytes());
    let onprem = request.uri().path().starts_with("/v1/");
    let ok = match header {
        // On-Prem's dialect: an `Authorization` presented must be valid, whatever
        // else came with it (a wrong or expired token is never papered over).
        _ if onprem
            && request
                .headers()
                .contains_key(axum::http::header::AUTHORIZATION) =>
        {
            onprem_credentials(&key, &request)
        }
        Some(p) => key.matches(p),
        // Wawp's dialect carries the key in the query.
        None if request.uri().path().starts_with("/v2/") => {
            access_token(request.uri()).is_some_and(|t| key.matches(t.as_bytes()))
        }
        // On-Prem's dialect: a token from its login, or basic auth to log in.
        None => false,
    };
    if ok {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// `Authorization: Bearer <token>` from On-Prem's login, or (to log in)
/// `Basic admin:<API key>`.
fn onprem_credentials(key: &ApiKey, request: &Request) -> bool {
    let Some(header) = request.headers().get(axum::http::header::AUTHORIZATION) else {
        return false;
    };
    let header = header.as_bytes();
    if request.uri().path() == "/v1/users/login" && crate::onprem_auth::basic_matches(key, header) {
        return true;
    }
    crate::onprem_auth::bearer(header).is_some_and(|token| {
        crate::onprem_auth::verify(key, token, wacontacts_core::ports::unix_now_ms())
    })
}

/// The decoded `access_token` query parameter, if any.
fn access_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Token {
        access_token: Option<String>,
    }
    axum::extract::Query::<Token>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_key() {
        let key = ApiKey::new("secret");
        assert!(key.matches(b"secret"));
        assert!(!key.matches(b"secreT"));
        assert!(!key.matches(b"secret "));
        assert!(!key.matches(b""));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", ApiKey::new("secret")), "ApiKey(..)");
    }

    #[test]
    fn generated_key_is_stored_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = ApiKey::resolve(None, dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(source, KeySource::File(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, _) = ApiKey::resolve(None, dir.path()).unwrap();
        assert_eq!(first.0, second.0);
        assert_eq!(first.0.len(), 64);
    }

    #[test]
    fn explicit_key_wins_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = ApiKey::resolve(Some("k".into()), dir.path()).unwrap();
        assert!(key.matches(b"k"));
        assert_eq!(source, KeySource::Configured);
        assert!(!dir.path().join(KEY_FILE).exists());
        assert!(ApiKey::resolve(Some("  ".into()), dir.path()).is_err());
    }

    #[test]
    fn only_liveness_and_docs_are_public() {
        assert!(is_public("/health"));
        assert!(is_public("/ping"));
        assert!(is_public("/docs/"));
        assert!(!is_public("/api/sessions"));
        assert!(!is_public("/metrics"));
        assert!(!is_public("/healthz"));
        assert!(is_public("/dashboard"));
        assert!(is_public("/dashboard/app.js"));
        assert!(!is_public("/dashboard/other"));
    }
}
