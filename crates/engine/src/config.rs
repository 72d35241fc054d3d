//! Engine settings: where device state lives, which WhatsApp endpoint and client
//! version to use, and how long WhatsApp calls may take.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wacontacts_core::session::SessionName;

/// Default of [`EngineConfig::max_concurrent_logins`].
pub const DEFAULT_CONCURRENT_LOGINS: usize = 64;

/// Settings shared by every session of one [`crate::Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Root of the server's data. Device keys live in the database given to
    /// [`crate::Engine::new`]; a `{data_dir}/sessions/{name}/device.db` of an older
    /// version is imported from there at the session's first start.
    pub data_dir: PathBuf,
    /// WebSocket URL of WhatsApp's chat endpoint; `None` = the real
    /// `wss://web.whatsapp.com/ws/chat`. Tests and the sandbox point it at wasim.
    pub whatsapp_url: Option<String>,
    /// WhatsApp Web client version to announce. `Some` pins it and nothing is
    /// fetched from web.whatsapp.com; `None` fetches the current one on each connect.
    pub client_version: Option<(u32, u32, u32)>,
    /// Upper bound of every WhatsApp call made through [`crate::Engine::directory`].
    pub call_timeout: Duration,
    /// How long [`crate::Engine::request_code`] waits for the socket of a
    /// just-started session before giving up.
    pub connect_timeout: Duration,
    /// Name shown in the phone's "Linked devices" list (the OS field of the
    /// device props); `None` keeps whatsapp-rust's default.
    pub device_name: Option<String>,
    /// Pre-keys generated per upload batch; `None` keeps WhatsApp Web's 812.
    /// Tests lower it to link faster.
    pub pre_key_count: Option<usize>,
    /// How long a session may wait in SCAN_QR_CODE before it gives up (FAILED, "no
    /// QR code was scanned in time"). `None` leaves it to WhatsApp's QR codes
    /// running out (60 s for the first, 20 s for each further one: 160 s for six).
    pub qr_timeout: Option<Duration>,
    /// Logins with stored keys in progress at once, each from its connect until the
    /// client is fully ready (or [`EngineConfig::connect_timeout`] passed); further
    /// starts wait their turn in STARTING. A restart restores thousands of sessions
    /// at once: unbounded, their handshakes and first syncs compete for the cores
    /// and the database, time out and retry with backoff. Pairing (no stored keys)
    /// is never held back. At least 1.
    pub max_concurrent_logins: usize,
    /// Bytes of LID↔phone mappings kept in memory for all sessions together; the
    /// rest are read from the database when asked for (see `caches.rs`).
    pub lid_cache_bytes: u64,
}

/// Default of [`EngineConfig::lid_cache_bytes`]: 32 MiB, about 150,000 mappings.
pub const DEFAULT_LID_CACHE_BYTES: u64 = 32 << 20;

impl EngineConfig {
    /// A config with defaults for everything but the data directory: the real
    /// WhatsApp endpoint, a fetched version, 20 s calls, 30 s connects.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            whatsapp_url: None,
            client_version: None,
            call_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(30),
            device_name: None,
            pre_key_count: None,
            qr_timeout: None,
            max_concurrent_logins: DEFAULT_CONCURRENT_LOGINS,
            lid_cache_bytes: DEFAULT_LID_CACHE_BYTES,
        }
    }

    /// Directory of one session's files (only a legacy device file, if any).
    pub fn session_dir(&self, name: &SessionName) -> PathBuf {
        self.data_dir.join("sessions").join(name.as_str())
    }

    /// The per-session SQLite file of versions before device state moved into the
    /// database: imported (and renamed `*.imported`) at the session's first start.
    pub fn device_db(&self, name: &SessionName) -> PathBuf {
        self.session_dir(name).join("device.db")
    }
}

/// Parses a client version written `MAJOR.MINOR.PATCH` (e.g. `2.3000.0`), as given
/// to `--whatsapp-version`. Input: the flag's text, surrounding spaces allowed;
/// edge cases: fewer or more than three parts, empty parts and non-digits are errors.
pub fn parse_client_version(text: &str) -> Result<(u32, u32, u32), String> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "client version must be MAJOR.MINOR.PATCH, got {text:?}"
        ));
    }
    let mut out = [0u32; 3];
    for (slot, part) in out.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("client version part {part:?} is not a number"));
        }
        *slot = part
            .parse()
            .map_err(|_| format!("client version part {part:?} is too large"))?;
    }
    Ok((out[0], out[1], out[2]))
}

/// True when `path` is inside `root` once both are made absolute lexically;
/// a guard before removing a session directory.
pub(crate) fn is_inside(root: &Path, path: &Path) -> bool {
    path.starts_with(root) && path != root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_client_version("2.3000.0"), Ok((2, 3000, 0)));
        assert_eq!(
            parse_client_version(" 2.3000.1023456 "),
            Ok((2, 3000, 1023456))
        );
        assert!(parse_client_version("2.3000").is_err());
        assert!(parse_client_version("2.3000.0.1").is_err());
        assert!(parse_client_version("2..0").is_err());
        assert!(parse_client_version("2.x.0").is_err());
        assert!(parse_client_version("2.-1.0").is_err());
        assert!(parse_client_version("99999999999.0.0").is_err());
    }

    #[test]
    fn session_paths_stay_under_the_data_dir() {
        let config = EngineConfig::new("/data");
        let name = SessionName::parse("alpha").unwrap();
        assert_eq!(
            config.device_db(&name),
            PathBuf::from("/data/sessions/alpha/device.db")
        );
        assert!(is_inside(&config.data_dir, &config.session_dir(&name)));
        assert!(!is_inside(&config.data_dir, Path::new("/data")));
        assert!(!is_inside(&config.data_dir, Path::new("/etc")));
    }
}
