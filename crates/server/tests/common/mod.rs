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
