//! Spawns the real server on port 0 against a fresh data dir, zero2prod style.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use wacontacts::{Application, Settings};

pub const API_KEY: &str = "test-key-0123456789";

/// A running server and a client that sends the key.
pub struct TestApp {
    pub base: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts a server on a new temp data dir, kept alive by the returned guard.
    pub async fn spawn() -> (tempfile::TempDir, TestApp) {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = Self::spawn_in(dir.path(), |_| {}).await;
        (dir, app)
    }

    /// Starts a server on `data_dir`, letting the caller adjust settings.
    pub async fn spawn_in(data_dir: &Path, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings::for_data_dir(data_dir);
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.api_key = Some(API_KEY.into());
        // Never the real WhatsApp: a closed local port unless a test brings wasim.
        settings.whatsapp_url = Some("ws://127.0.0.1:9/ws/chat".into());
        settings.whatsapp_version = Some((2, 3000, 1_000_000_000));
        settings.pre_key_count = Some(50);
        adjust(&mut settings);
        let app = Application::build(settings).await.expect("server builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-api-key", API_KEY.parse().unwrap());
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        TestApp {
            base,
            data_dir: data_dir.to_owned(),
            client,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and waits until it has closed the database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.client.get(self.url(path)).send().await.unwrap();
        json_of(resp).await
    }

    /// The body of a GET as text (asserts 200).
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {path}");
        resp.text().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        json_of(resp).await
    }

    pub async fn put_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        json_of(resp).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.client.delete(self.url(path)).send().await.unwrap();
        json_of(resp).await
    }
}

pub async fn json_of(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, value)
}

/// Asserts the WAHA error shape and returns its `code`.
pub fn assert_error_shape(status: u16, body: &serde_json::Value) -> String {
    assert_eq!(
        body["statusCode"], status,
        "statusCode mirrors the status: {body}"
    );
    assert!(
        body["error"].is_string(),
        "error is the reason phrase: {body}"
    );
    assert!(body["message"].is_string(), "message is present: {body}");
    body["code"].as_str().expect("code is a string").to_owned()
}

/// Polls `probe` until it yields a value, for at most [`WAIT`]; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A wasim on port 0 and a server pointed at it.
pub struct Linked {
    pub wasim: wasim::Wasim,
    pub app: TestApp,
    pub dir: tempfile::TempDir,
    /// Settings the test changed, applied again on restart.
    adjust: fn(&mut Settings),
    /// `--database-url`, when not the SQLite file in `dir` (kept across restarts).
    database_url: Option<String>,
}

/// Every wait in these tests is bounded by this.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Linked {
    /// Starts wasim seeded with `users`, and the server against it.
    pub async fn start(users: Vec<wasim::DirectoryUser>) -> Linked {
        Self::start_with(users, |_| {}).await
    }

    /// Like [`Linked::start`], with settings changed by `adjust` (kept across restarts).
    pub async fn start_with(users: Vec<wasim::DirectoryUser>, adjust: fn(&mut Settings)) -> Linked {
        let wasim = Self::wasim(users).await;
        Self::serve(wasim, tempfile::tempdir().unwrap(), adjust, None).await
    }

    /// Like [`Linked::start`], the server run with `--database-url database_url`.
    pub async fn start_on_database(users: Vec<wasim::DirectoryUser>, database_url: &str) -> Linked {
        let wasim = Self::wasim(users).await;
        let dir = tempfile::tempdir().unwrap();
        Self::serve(wasim, dir, |_| {}, Some(database_url.to_owned())).await
    }

    /// A wasim on port 0 seeded with `users`.
    async fn wasim(users: Vec<wasim::DirectoryUser>) -> wasim::Wasim {
        let wasim = wasim::Wasim::start(
            "127.0.0.1:0".parse().unwrap(),
            // First syncs come as snapshots, as from WhatsApp.
            wasim::WasimConfig {
                snapshots: true,
                ..wasim::WasimConfig::default()
            },
        )
        .await
        .expect("wasim starts");
        wasim.upsert_users(users).await.expect("seed users");
        wasim
    }

    /// A server on `dir` pointed at `wasim`.
    async fn serve(
        wasim: wasim::Wasim,
        dir: tempfile::TempDir,
        adjust: fn(&mut Settings),
        database_url: Option<String>,
    ) -> Linked {
        let url = wasim.ws_url();
        let database = database_url
            .as_deref()
            .map(|u| wacontacts_store::DatabaseUrl::parse(u).expect("a valid database URL"));
        let app = TestApp::spawn_in(dir.path(), move |s| {
            s.whatsapp_url = Some(url);
            s.database = database;
            adjust(s);
        })
        .await;
        Linked {
            wasim,
            app,
            dir,
            adjust,
            database_url,
        }
    }

    /// Stops the server and starts a new one on the same data dir.
    pub async fn restart_app(self) -> Linked {
        let Linked {
            wasim,
            app,
            dir,
            adjust,
            database_url,
        } = self;
        app.stop().await;
        Self::serve(wasim, dir, adjust, database_url).await
    }

    /// Saves `phone` in `account`'s phone address book (in wasim), as a user does on the
    /// phone; WhatsApp then sends the contact action to linked devices.
    pub async fn add_to_address_book(
        &self,
        account: &str,
        phone: &str,
        full_name: Option<&str>,
        first_name: Option<&str>,
    ) {
        let contact = wasim::AddressBookContact {
            phone: phone.into(),
            full_name: full_name.map(str::to_owned),
            first_name: first_name.map(str::to_owned),
        };
        self.wasim
            .add_contact(account, contact)
            .await
            .expect("wasim saves the contact");
    }

    /// Creates (and starts) `session`, scans its QR as `account`, waits for WORKING.
    pub async fn link(&self, session: &str, account: &str) {
        let (status, body) = self
            .app
            .post_json("/api/sessions", serde_json::json!({ "name": session }))
            .await;
        assert_eq!(status, 201, "{body}");
        self.wait_status(session, "SCAN_QR_CODE").await;
        let (status, qr) = self
            .app
            .get_json(&format!("/api/{session}/auth/qr?format=raw"))
            .await;
        assert_eq!(status, 200, "{qr}");
        let value = qr["value"].as_str().expect("raw QR value").to_owned();
        tokio::time::timeout(WAIT, self.wasim.scan_qr(&value, Some(account)))
            .await
            .expect("scan in time")
            .expect("wasim scans");
        self.wait_status(session, "WORKING").await;
    }

    /// Asks for a pair code for `phone` on `session` (created stopped when new), as a
    /// user does before typing it on the phone; returns the code.
    pub async fn request_code(&self, session: &str, phone: &str) -> String {
        let (status, _) = self.app.get_json(&format!("/api/sessions/{session}")).await;
        if status == 404 {
            let (status, body) = self
                .app
                .post_json(
                    "/api/sessions",
                    serde_json::json!({"name": session, "start": false}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, body) = self
            .app
            .post_json(
                &format!("/api/{session}/auth/request-code"),
                serde_json::json!({ "phoneNumber": phone }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["code"].as_str().expect("a code").to_owned()
    }

    /// Sets `session`'s lookup budget per hour (its `config.checks.budgetPerHour`).
    pub async fn set_check_budget(&self, session: &str, budget: u32) {
        let (status, body) = self
            .app
            .put_json(
                &format!("/api/sessions/{session}"),
                serde_json::json!({"config": {"checks": {"budgetPerHour": budget}}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// wasim answers the next usync query with WhatsApp's 429 rate-overlimit.
    pub async fn rate_limit_next_usync(&self) {
        self.wasim
            .fault(wasim::Fault::UsyncRateLimit {
                count: Some(1),
                account: None,
            })
            .await
            .unwrap();
    }

    /// usync IQs and usync users wasim has seen from `account` so far.
    pub async fn usync_counts(&self, account: &str) -> (u64, u64) {
        let stats = self.wasim.stats().await;
        let seen = stats.accounts.get(account).cloned().unwrap_or_default();
        (seen.iq.get("usync").copied().unwrap_or(0), seen.usync_users)
    }

    /// What wasim holds for `account` (devices, address book, blocklist) as JSON.
    pub async fn account(&self, account: &str) -> serde_json::Value {
        let accounts = serde_json::to_value(self.wasim.accounts().await).unwrap();
        accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["phone"] == account)
            .cloned()
            .unwrap_or_else(|| panic!("wasim has no account {account}"))
    }

    /// Polls the session until it has `status`; returns its info.
    pub async fn wait_status(&self, session: &str, status: &str) -> serde_json::Value {
        self.wait_for(&format!("/api/sessions/{session}"), |v| {
            v["status"] == status
        })
        .await
    }

    /// Polls a GET route until `check` holds on its JSON (200 only); returns it.
    pub async fn wait_for(
        &self,
        path: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (code, body) = self.app.get_json(path).await;
            if code == 200 && check(&body) {
                return body;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out polling {path}; last answer {code}: {body}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Logins of `account`'s companions that wasim has seen: every login sends one
    /// `passive` IQ (the client telling it is active).
    pub async fn logins(&self, account: &str) -> u64 {
        let stats = self.wasim.stats().await;
        stats
            .accounts
            .get(account)
            .and_then(|a| a.iq.get("passive").copied())
            .unwrap_or(0)
    }

    pub async fn stop(self) {
        self.app.stop().await;
        self.wasim.shutdown().await;
    }
}
