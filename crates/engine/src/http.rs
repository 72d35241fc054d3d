//! The HTTP client of every session (media downloads, version fetches): whatsapp-rust's
//! ureq client. In a sandbox build, downloads from the simulated WhatsApp's media host
//! (`https://media.wasim.invalid/…`, where wasim serves app-state snapshots) go to the
//! simulator's own port, as a CDN in front of it would; release builds have no such path.

use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse, UreqHttpClient};

/// The media host wasim names in its answers.
#[cfg(feature = "sandbox")]
const SIMULATED_MEDIA: &str = "https://media.wasim.invalid";

/// ureq, plus (sandbox builds) the simulator's media host. One per engine, cloned into
/// every session's client: a clone shares the agent, so all sessions share one
/// connection pool (at most 3 idle connections, 32 KiB of buffers each) and one TLS
/// configuration, instead of a pool, its idle sockets and a root store per session.
#[derive(Clone)]
pub(crate) struct EngineHttp {
    inner: UreqHttpClient,
    /// `http://HOST:PORT` of the simulator, when the engine talks to one.
    #[cfg(feature = "sandbox")]
    simulator: Option<String>,
}

impl EngineHttp {
    /// The client for an engine whose WhatsApp is `whatsapp_url` (`None` = the real one).
    pub(crate) fn new(whatsapp_url: Option<&str>) -> Self {
        #[cfg(not(feature = "sandbox"))]
        let _ = whatsapp_url;
        Self {
            inner: UreqHttpClient::new(),
            #[cfg(feature = "sandbox")]
            simulator: whatsapp_url.and_then(simulator_base),
        }
    }
}

/// `ws://HOST:PORT/ws/chat` → `http://HOST:PORT` (only a plain-WebSocket, i.e. local,
/// endpoint is a simulator).
#[cfg(feature = "sandbox")]
fn simulator_base(url: &str) -> Option<String> {
    let rest = url.strip_prefix("ws://")?;
    let host = rest.split('/').next()?;
    Some(format!("http://{host}"))
}

#[whatsapp_rust::async_trait]
impl HttpClient for EngineHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        #[cfg(feature = "sandbox")]
        if let (Some(base), Some(rest)) = (
            &self.simulator,
            request.url.strip_prefix(SIMULATED_MEDIA).map(str::to_owned),
        ) {
            let mut request = request;
            request.url = format!("{base}{rest}");
            return self.inner.execute(request).await;
        }
        self.inner.execute(request).await
    }
}

#[cfg(all(test, feature = "sandbox"))]
mod tests {
    #[test]
    fn only_a_plain_websocket_endpoint_is_a_simulator() {
        assert_eq!(
            super::simulator_base("ws://127.0.0.1:5222/ws/chat").as_deref(),
            Some("http://127.0.0.1:5222")
        );
        assert_eq!(
            super::simulator_base("wss://web.whatsapp.com/ws/chat"),
            None
        );
    }
}
