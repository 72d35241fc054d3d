//! Configuration: command-line flags, `WACONTACTS_*` environment variables and an optional
//! TOML file. Flags win over the environment, which wins over the file, which wins over
//! the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// Default address: loopback only, so a fresh install is not reachable from outside.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
/// Default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Flags of `wacontacts serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "WACONTACTS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "WACONTACTS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the database, the API key and device state [default: ./data].
    #[arg(long, env = "WACONTACTS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`
    /// (`postgresql://` too) [default: the SQLite file wacontacts.db in the data dir].
    #[arg(long, env = "WACONTACTS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Seconds a request may take before it is answered 504 [default: 30].
    #[arg(long, env = "WACONTACTS_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "WACONTACTS_BODY_LIMIT_BYTES")]
    pub body_limit_bytes: Option<usize>,
    /// Seconds to wait for in-flight requests on shutdown [default: 10].
    #[arg(long, env = "WACONTACTS_SHUTDOWN_TIMEOUT_SECS")]
    pub shutdown_timeout_secs: Option<u64>,
    /// WhatsApp's WebSocket endpoint [default: WhatsApp's own]. Tests point it at wasim.
    #[arg(long, env = "WACONTACTS_WHATSAPP_URL")]
    pub whatsapp_url: Option<String>,
    /// WhatsApp Web client version to announce, e.g. 2.3000.0; when set nothing is
    /// fetched from web.whatsapp.com [default: fetched on connect].
    #[arg(long, env = "WACONTACTS_WHATSAPP_VERSION")]
    pub whatsapp_version: Option<String>,
    /// Uncached numbers a session may look up per rolling hour (the ban guard);
    /// a session's `config.checks.budgetPerHour` overrides it [default: 200].
    #[arg(long, env = "WACONTACTS_CHECK_BUDGET_PER_HOUR")]
    pub check_budget_per_hour: Option<u32>,
    /// The session `/v1` (WhatsApp Business On-Premises' dialect) acts on
    /// [default: default].
    #[arg(long, env = "WACONTACTS_ONPREM_SESSION")]
    pub onprem_session: Option<String>,
    /// Run a simulated WhatsApp in-process and link sessions to it: try the whole API
    /// without a phone (needs a build with `--features sandbox`).
    #[arg(long, env = "WACONTACTS_SANDBOX")]
    pub sandbox: bool,
    /// JSON file of the sandbox's WhatsApp users (`{"users": [{"phone": ...}]}`);
    /// replaces the demo directory.
    #[arg(long, env = "WACONTACTS_SANDBOX_SEED")]
    pub sandbox_seed: Option<PathBuf>,
    /// Don't scan sandbox QR codes automatically; scan through
    /// `POST /sandbox/admin/scan-qr` instead.
    #[arg(long, env = "WACONTACTS_SANDBOX_MANUAL_SCAN")]
    pub sandbox_manual_scan: bool,
    /// A webhook every session sends to, besides its own `config.webhooks`.
    #[arg(long, env = "WACONTACTS_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Comma-separated events of the global webhook [default: *].
    #[arg(long, env = "WACONTACTS_WEBHOOK_EVENTS")]
    pub webhook_events: Option<String>,
    /// Signs the global webhook's bodies with HMAC-SHA512 under this key.
    #[arg(long, env = "WACONTACTS_WEBHOOK_HMAC_KEY", hide_env_values = true)]
    pub webhook_hmac_key: Option<String>,
    /// This process's id among the processes sharing the database (1-64 of
    /// `A-Z a-z 0-9 . _ -`) [default: generated once, kept in `<data-dir>/node-id`].
    #[arg(long, env = "WACONTACTS_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL the other processes reach this one at, to forward requests for the
    /// sessions it runs [default: http://<listen address>].
    #[arg(long, env = "WACONTACTS_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Seconds a session lease lasts without renewal: a dead process's sessions are
    /// taken over within about 4/3 of it (3-300) [default: 15].
    #[arg(long, env = "WACONTACTS_LEASE_TTL_SECS")]
    pub lease_ttl_secs: Option<u64>,
    /// Sessions logging in with stored keys at once (a restart restores them in turns
    /// of this many); at least 1 [default: 64].
    #[arg(long, env = "WACONTACTS_MAX_CONCURRENT_LOGINS")]
    pub max_concurrent_logins: Option<usize>,
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    api_key: Option<String>,
    request_timeout_secs: Option<u64>,
    body_limit_bytes: Option<usize>,
    shutdown_timeout_secs: Option<u64>,
    whatsapp_url: Option<String>,
    whatsapp_version: Option<String>,
    check_budget_per_hour: Option<u32>,
    onprem_session: Option<String>,
    webhook_url: Option<String>,
    webhook_events: Option<String>,
    webhook_hmac_key: Option<String>,
    node_id: Option<String>,
    advertise_url: Option<String>,
    lease_ttl_secs: Option<u64>,
    max_concurrent_logins: Option<usize>,
}

/// Settings in force, after layering.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The database; `None` = the SQLite file `wacontacts.db` in `data_dir`.
    pub database: Option<wacontacts_store::DatabaseUrl>,
    /// A key set explicitly (env `WACONTACTS_API_KEY` or the file); `None` means
    /// generate or reuse the one in the data dir.
    pub api_key: Option<String>,
    pub request_timeout: Duration,
    pub body_limit: usize,
    pub shutdown_timeout: Duration,
    /// WhatsApp endpoint; `None` = the real one.
    pub whatsapp_url: Option<String>,
    /// Pinned client version; `None` = fetched on connect.
    pub whatsapp_version: Option<(u32, u32, u32)>,
    /// Pre-keys per upload batch (WhatsApp Web's 812 when `None`); tests lower it.
    pub pre_key_count: Option<usize>,
    /// How long a session may show QR codes before it is FAILED; `None` = until
    /// WhatsApp's codes run out. Not a flag: tests shorten it.
    pub qr_timeout: Option<Duration>,
    /// Logins with stored keys in progress at once (the engine's turns).
    pub max_concurrent_logins: usize,
    /// Run against an in-process wasim instead of WhatsApp.
    pub sandbox: Option<SandboxSettings>,
    /// The ban guard's rules (budget, cache lifetimes, batching).
    pub checks: wacontacts_core::policy::CheckPolicy,
    /// The session `/v1` acts on.
    pub onprem_session: wacontacts_core::session::SessionName,
    /// How long `/v1` login tokens last (On-Prem's 7 days). Not a flag: tests shorten it.
    pub onprem_token_ttl: Duration,
    /// Limits and retry timings of the `no_wait` check queue. Not a flag.
    pub check_queue: wacontacts_core::service::QueuePolicy,
    /// The webhook of every session (`--webhook-url`), when set.
    pub webhook: Option<crate::webhooks::GlobalWebhook>,
    /// This node's id; `None` = the data dir's (see `lease::node`).
    pub node_id: Option<wacontacts_core::lease::NodeId>,
    /// How other nodes reach this one; `None` = `http://<bound address>`.
    pub advertise_url: Option<String>,
    /// Lease lifetime and renewal period.
    pub lease: wacontacts_core::lease::LeasePolicy,
}

/// How the sandbox runs.
#[derive(Debug, Clone, Default)]
pub struct SandboxSettings {
    /// Directory users to seed; the demo directory when `None`.
    pub seed: Option<PathBuf>,
    /// Leave QR scanning to the user.
    pub manual_scan: bool,
}

impl Settings {
    /// Defaults for a data dir: loopback on port 0 is what tests want.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: data_dir.to_owned(),
            database: None,
            api_key: None,
            request_timeout: Duration::from_secs(30),
            body_limit: DEFAULT_BODY_LIMIT,
            shutdown_timeout: Duration::from_secs(10),
            whatsapp_url: None,
            whatsapp_version: None,
            pre_key_count: None,
            qr_timeout: None,
            max_concurrent_logins: wacontacts_engine::DEFAULT_CONCURRENT_LOGINS,
            sandbox: None,
            checks: wacontacts_core::policy::CheckPolicy::default(),
            onprem_session: wacontacts_core::session::SessionName::parse("default")
                .expect("valid session name"),
            onprem_token_ttl: crate::onprem_auth::TOKEN_TTL,
            check_queue: Default::default(),
            webhook: None,
            node_id: None,
            advertise_url: None,
            lease: Default::default(),
        }
    }

    /// Layers flags/env (already merged by clap), `WACONTACTS_API_KEY`, the file and
    /// the defaults.
    pub fn resolve(args: &ServeArgs, env_api_key: Option<String>) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let mut settings = Self::for_data_dir(&data_dir);
        if let Some(url) = args.database_url.clone().or(file.database_url) {
            settings.database =
                Some(wacontacts_store::DatabaseUrl::parse(&url).context("invalid database_url")?);
        }
        if let Some(listen) = args.listen.or(file.listen) {
            settings.listen = listen;
        }
        settings.api_key = env_api_key.filter(|k| !k.is_empty()).or(file.api_key);
        if let Some(n) = args.max_concurrent_logins.or(file.max_concurrent_logins) {
            anyhow::ensure!(n >= 1, "max_concurrent_logins must be at least 1, got {n}");
            settings.max_concurrent_logins = n;
        }
        if let Some(b) = args.check_budget_per_hour.or(file.check_budget_per_hour) {
            settings.checks.budget_per_hour = b;
        }
        if let Some(name) = args.onprem_session.clone().or(file.onprem_session) {
            settings.onprem_session = wacontacts_core::session::SessionName::parse(&name)
                .map_err(|e| anyhow::anyhow!("invalid onprem_session {name:?}: {e}"))?;
        }
        if let Some(s) = args.request_timeout_secs.or(file.request_timeout_secs) {
            anyhow::ensure!(s > 0, "request_timeout_secs must be at least 1");
            settings.request_timeout = Duration::from_secs(s);
        }
        if let Some(b) = args.body_limit_bytes.or(file.body_limit_bytes) {
            anyhow::ensure!(b >= 1024, "body_limit_bytes must be at least 1024");
            settings.body_limit = b;
        }
        if let Some(s) = args.shutdown_timeout_secs.or(file.shutdown_timeout_secs) {
            settings.shutdown_timeout = Duration::from_secs(s);
        }
        settings.whatsapp_url = args.whatsapp_url.clone().or(file.whatsapp_url);
        if let Some(url) = &settings.whatsapp_url {
            anyhow::ensure!(
                url.starts_with("ws://") || url.starts_with("wss://"),
                "whatsapp_url must be a ws:// or wss:// URL, got {url:?}"
            );
        }
        if let Some(v) = args.whatsapp_version.clone().or(file.whatsapp_version) {
            let parsed = wacontacts_engine::parse_client_version(&v)
                .map_err(|e| anyhow::anyhow!("invalid whatsapp_version {v:?}: {e}"))?;
            settings.whatsapp_version = Some(parsed);
        }
        if let Some(url) = args.webhook_url.clone().or(file.webhook_url) {
            settings.webhook = Some(global_webhook(
                url,
                args.webhook_events.clone().or(file.webhook_events),
                args.webhook_hmac_key.clone().or(file.webhook_hmac_key),
            )?);
        }
        if let Some(id) = args.node_id.clone().or(file.node_id) {
            settings.node_id = Some(
                wacontacts_core::lease::NodeId::parse(&id)
                    .map_err(|e| anyhow::anyhow!("invalid node_id {id:?}: {e}"))?,
            );
        }
        if let Some(url) = args.advertise_url.clone().or(file.advertise_url) {
            anyhow::ensure!(
                (url.starts_with("http://") || url.starts_with("https://"))
                    && reqwest::Url::parse(&url).is_ok(),
                "advertise_url must be an http:// or https:// URL, got {url:?}"
            );
            settings.advertise_url = Some(url);
        }
        if let Some(s) = args.lease_ttl_secs.or(file.lease_ttl_secs) {
            settings.lease = wacontacts_core::lease::LeasePolicy::new(Duration::from_secs(s))
                .map_err(|e| anyhow::anyhow!("invalid lease_ttl_secs {s}: {e}"))?;
        }
        if args.sandbox {
            settings.sandbox = Some(SandboxSettings {
                seed: args.sandbox_seed.clone(),
                manual_scan: args.sandbox_manual_scan,
            });
        }
        Ok(settings)
    }
}

/// The global webhook, checked as a session's `config.webhooks` entry would be.
fn global_webhook(
    url: String,
    events: Option<String>,
    key: Option<String>,
) -> anyhow::Result<crate::webhooks::GlobalWebhook> {
    let events: Vec<String> = match events {
        Some(e) => e
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => vec!["*".to_owned()],
    };
    let hook = serde_json::json!({ "url": url, "events": events, "hmac": key.map(|k| serde_json::json!({ "key": k })) });
    let mut targets =
        crate::webhooks::targets_from_config(&serde_json::json!({ "webhooks": [hook] }))
            .map_err(|e| anyhow::anyhow!("invalid global webhook: {} ({})", e.message, e.value))?;
    Ok(crate::webhooks::GlobalWebhook(targets.remove(0)))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("Failed to parse config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:4000\"\ndata_dir = \"/tmp/x\"\napi_key = \"from-file\"\nrequest_timeout_secs = 5\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            listen: Some("127.0.0.1:5000".parse().unwrap()),
            ..Default::default()
        };
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.listen.port(), 5000);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.api_key.as_deref(), Some("from-file"));
        assert_eq!(s.request_timeout, Duration::from_secs(5));
        assert_eq!(s.body_limit, DEFAULT_BODY_LIMIT);

        let s = Settings::resolve(&args, Some("from-env".into())).unwrap();
        assert_eq!(s.api_key.as_deref(), Some("from-env"));
    }

    #[test]
    fn database_url_layers_and_a_bad_one_never_shows_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "database_url = \"postgres://u:filepw@db/wa\"\n").unwrap();
        let from_file = ServeArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let s = Settings::resolve(&from_file, None).unwrap();
        let url = s.database.expect("a database from the file");
        assert!(url.is_postgres());
        assert_eq!(url.to_string(), "postgres://u:***@db/wa");
        let flag = ServeArgs {
            config: Some(file),
            database_url: Some("sqlite:///tmp/x/other.db".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&flag, None).unwrap();
        assert!(!s.database.unwrap().is_postgres());
        assert!(
            Settings::resolve(&ServeArgs::default(), None)
                .unwrap()
                .database
                .is_none()
        );
        for bad in [
            "mysql://root:hunter2@db/wa",
            "postgres://u:hunter2@db:notaport/wa",
        ] {
            let args = ServeArgs {
                database_url: Some(bad.into()),
                ..Default::default()
            };
            let err = format!("{:#}", Settings::resolve(&args, None).unwrap_err());
            assert!(err.contains("database_url"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn defaults_are_loopback_and_data() {
        let s = Settings::resolve(&ServeArgs::default(), None).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert!(s.api_key.is_none());
    }

    #[test]
    fn concurrent_logins_from_flag_or_file_and_at_least_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "max_concurrent_logins = 8\n").unwrap();
        let mut args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&args, None)
                .unwrap()
                .max_concurrent_logins,
            8
        );
        args.max_concurrent_logins = Some(2);
        assert_eq!(
            Settings::resolve(&args, None)
                .unwrap()
                .max_concurrent_logins,
            2
        );
        args.max_concurrent_logins = Some(0);
        let err = Settings::resolve(&args, None).unwrap_err().to_string();
        assert!(err.contains("max_concurrent_logins"), "{err}");
        let defaults = Settings::resolve(&ServeArgs::default(), None).unwrap();
        assert_eq!(defaults.max_concurrent_logins, 64);
    }

    #[test]
    fn onprem_session_from_flag_or_file_and_must_be_a_session_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "onprem_session = \"sales\"\n").unwrap();
        let mut args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.onprem_session.as_str(), "sales");
        args.onprem_session = Some("support".into());
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.onprem_session.as_str(), "support");
        args.onprem_session = Some("no spaces".into());
        assert!(Settings::resolve(&args, None).is_err());
        let s = Settings::resolve(&ServeArgs::default(), None).unwrap();
        assert_eq!(s.onprem_session.as_str(), "default");
    }

    #[test]
    fn the_global_webhook_is_checked_like_a_sessions() {
        let args = |events: &str| ServeArgs {
            webhook_url: Some("http://hooks.test/in".into()),
            webhook_events: Some(events.into()),
            webhook_hmac_key: Some("k".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&args("session.status, contact.update"), None).unwrap();
        let hook = s.webhook.expect("a global webhook").0;
        assert_eq!(hook.events, ["session.status", "contact.update"]);
        assert_eq!(hook.hmac_key.as_deref(), Some("k"));
        let err = Settings::resolve(&args("message"), None).unwrap_err();
        assert!(err.to_string().contains("message"), "{err}");
        assert!(
            Settings::resolve(&ServeArgs::default(), None)
                .unwrap()
                .webhook
                .is_none()
        );
    }

    #[test]
    fn lease_settings_layer_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "node_id = \"from-file\"\nadvertise_url = \"http://n1:3000\"\nlease_ttl_secs = 9\n",
        )
        .unwrap();
        let mut args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        let s = Settings::resolve(&args, None).unwrap();
        assert_eq!(s.node_id.unwrap().as_str(), "from-file");
        assert_eq!(s.advertise_url.as_deref(), Some("http://n1:3000"));
        assert_eq!(s.lease.ttl, Duration::from_secs(9));
        args.node_id = Some("flag".into());
        assert_eq!(
            Settings::resolve(&args, None)
                .unwrap()
                .node_id
                .unwrap()
                .as_str(),
            "flag"
        );
        args.node_id = Some("no spaces".into());
        assert!(Settings::resolve(&args, None).is_err());
        args.node_id = None;
        args.lease_ttl_secs = Some(1);
        assert!(Settings::resolve(&args, None).is_err());
        args.lease_ttl_secs = None;
        args.advertise_url = Some("n1:3000".into());
        assert!(Settings::resolve(&args, None).is_err());
        let s = Settings::resolve(&ServeArgs::default(), None).unwrap();
        assert_eq!(s.lease, wacontacts_core::lease::LeasePolicy::default());
        assert!(s.node_id.is_none() && s.advertise_url.is_none());
    }

    #[test]
    fn unknown_file_keys_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:4000\"\n").unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        assert!(Settings::resolve(&args, None).is_err());
    }
}
