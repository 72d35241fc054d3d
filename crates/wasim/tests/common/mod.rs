//! A real whatsapp-rust client wired to a wasim on 127.0.0.1:0.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use wasim::{Wasim, WasimConfig};
use whatsapp_rust::Client;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};

pub const T: Duration = Duration::from_secs(30);

/// The client never needs HTTP against wasim (the version is pinned).
pub struct NoHttp;

#[whatsapp_rust::async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _request: HttpRequest) -> anyhow::Result<HttpResponse> {
        anyhow::bail!("no HTTP in tests")
    }
}

pub async fn start_wasim() -> Wasim {
    start_wasim_with(WasimConfig::default()).await
}

pub async fn start_wasim_with(config: WasimConfig) -> Wasim {
    let _ = env_logger::builder().is_test(true).try_init();
    Wasim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("wasim starts")
}

pub struct TestClient {
    pub handle: Option<BotHandle>,
    pub client: Arc<Client>,
    pub events: mpsc::UnboundedReceiver<Arc<Event>>,
    pub backend: Arc<dyn whatsapp_rust::store::traits::Backend>,
    /// A `Connected` event went by while waiting for another event: whatsapp-rust
    /// dispatches events from concurrent tasks, so it may come before or after them.
    pub seen_connected: bool,
}

pub fn memory_backend() -> Arc<dyn whatsapp_rust::store::traits::Backend> {
    Arc::new(whatsapp_rust::wacore::store::InMemoryBackend::new())
}

/// Builds and spawns a client on `backend` that connects to `wasim`.
pub async fn spawn_client(
    wasim: &Wasim,
    backend: Arc<dyn whatsapp_rust::store::traits::Backend>,
) -> TestClient {
    spawn_client_with(wasim, backend, None).await
}

/// Sends the client's media downloads (`https://MEDIA_HOST/...`) to wasim's port, as a
/// CDN in front of wasim would.
pub struct WasimMedia {
    pub base: String,
}

#[whatsapp_rust::async_trait]
impl HttpClient for WasimMedia {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let Some(rest) = request.url.strip_prefix("https://media.wasim.invalid") else {
            anyhow::bail!("no HTTP in tests but wasim's media host: {}", request.url)
        };
        let resp = reqwest::get(format!("{}{rest}", self.base)).await?;
        Ok(HttpResponse {
            status_code: resp.status().as_u16(),
            body: resp.bytes().await?.to_vec(),
        })
    }
}

/// Like [`spawn_client`], with media downloads served by wasim.
pub async fn spawn_media_client(
    wasim: &Wasim,
    backend: Arc<dyn whatsapp_rust::store::traits::Backend>,
) -> TestClient {
    let media = WasimMedia {
        base: format!("http://{}", wasim.addr()),
    };
    spawn(wasim, backend, None, media).await
}

/// Like [`spawn_client`], linking by pair code for `pair_code.phone_number`.
pub async fn spawn_client_with(
    wasim: &Wasim,
    backend: Arc<dyn whatsapp_rust::store::traits::Backend>,
    pair_code: Option<whatsapp_rust::pair_code::PairCodeOptions>,
) -> TestClient {
    spawn(wasim, backend, pair_code, NoHttp).await
}

async fn spawn(
    wasim: &Wasim,
    backend: Arc<dyn whatsapp_rust::store::traits::Backend>,
    pair_code: Option<whatsapp_rust::pair_code::PairCodeOptions>,
    http: impl HttpClient + 'static,
) -> TestClient {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut builder = Bot::builder()
        .with_backend_arc(backend.clone())
        .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(wasim.ws_url()))
        .with_http_client(http)
        .with_runtime(whatsapp_rust::TokioRuntime)
        .with_version((2, 3000, 1_000_000_000))
        .skip_history_sync()
        .with_wanted_pre_key_count(50)
        .on_event(move |ev, _client| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ev);
            }
        });
    if let Some(opts) = pair_code {
        builder = builder.with_pair_code(opts);
    }
    let bot = builder.build().await.expect("bot builds");
    let client = bot.client();
    let handle = bot.spawn();
    TestClient {
        handle: Some(handle),
        client,
        events: rx,
        backend,
        seen_connected: false,
    }
}

impl TestClient {
    /// Waits (bounded) for the first event `f` maps to `Some`.
    pub async fn wait_for<R>(&mut self, what: &str, mut f: impl FnMut(&Event) -> Option<R>) -> R {
        let seen_connected = &mut self.seen_connected;
        let events = &mut self.events;
        let fut = async {
            while let Some(ev) = events.recv().await {
                if let Some(r) = f(&ev) {
                    return r;
                }
                *seen_connected |= matches!(*ev, Event::Connected(_));
            }
            panic!("event stream ended while waiting for {what}");
        };
        match tokio::time::timeout(T, fut).await {
            Ok(r) => r,
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }

    pub async fn qr(&mut self) -> String {
        self.wait_for("QR code", |e| match e {
            Event::PairingQrCode(q) => Some(q.code.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for `Connected`, unless one went by while waiting for something else.
    pub async fn connected(&mut self) {
        if std::mem::take(&mut self.seen_connected) {
            return;
        }
        self.wait_for("Connected", |e| {
            matches!(e, Event::Connected(_)).then_some(())
        })
        .await
    }

    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h.shutdown()).await;
        }
    }
}

/// A fresh client linked by QR to `account`, connected.
pub async fn linked_client(wasim: &Wasim, account: &str) -> TestClient {
    let mut c = spawn_client(wasim, memory_backend()).await;
    let qr = c.qr().await;
    wasim.scan_qr(&qr, Some(account)).await.expect("scan");
    c.connected().await;
    c
}

/// Waits (bounded) until wasim saw every device of `account` disconnect.
pub async fn wait_offline(wasim: &Wasim, account: &str) {
    let deadline = std::time::Instant::now() + T;
    loop {
        let accounts = wasim.accounts().await;
        let online = accounts
            .iter()
            .filter(|a| a.phone == account)
            .flat_map(|a| a.devices.iter())
            .any(|d| d.connected);
        if !online {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{account} still online"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
