//! The axum application: routes, middleware, OpenAPI, and the `Application` that binds
//! a port and serves until shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;
use wacontacts_core::policy::Policy;
use wacontacts_core::service::{CheckQueue, CheckService, ContactService, SessionService};
use wacontacts_engine::{Engine, EngineConfig};
use wacontacts_store::Store;

use crate::api::openapi::Frame;
use crate::api::{
    dashboard, health, onprem, pairing, sessions, waha, wawp, webhook_deliveries, webhooks,
    whinself,
};
use crate::auth::{self, ApiKey, KeySource};
use crate::callbacks::HttpCallbacks;
use crate::clock::{TokioClock, TokioSpawner};
use crate::config::Settings;
use crate::error::{self, ApiError};
use crate::lease::Leases;
use crate::lease::proxy::Proxy;
use crate::lease::runtime::LeasedRuntime;
use crate::metrics::{self, Metrics};
use crate::state::AppState;
use crate::webhooks::Dispatcher;
use wacontacts_core::identity::IdentityService;

/// The OpenAPI document's frame; paths are added from the handlers' annotations, then
/// `openapi::Frame` adds the security schemes and the statuses every route shares.
#[derive(OpenApi)]
#[openapi(
    info(title = "wacontacts", description = "WhatsApp contacts over HTTP, in WAHA's dialect and others."),
    paths(openapi_json, swagger_ui),
    security(("api_key" = [])),
    tags((name = "sessions"), (name = "pairing"), (name = "contacts"), (name = "lids"), (name = "wawp"), (name = "whinself"), (name = "onprem"), (name = "health"), (name = "docs"), (name = "dashboard"))
)]
struct ApiDoc;

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
#[allow(dead_code)]
fn openapi_json() {}

/// Swagger UI over this document.
#[utoipa::path(get, path = "/docs/", tag = "docs",
    responses((status = 200, description = "The Swagger UI page", content_type = "text/html", body = String)))]
#[allow(dead_code)]
fn swagger_ui() {}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: usize,
    pub request_timeout: Duration,
}

/// The whole HTTP surface, ready for `oneshot` in tests or `axum::serve`. `extra`
/// routes (the sandbox's admin API) sit behind the same key and limits.
pub fn router(state: AppState, limits: Limits, extra: Option<Router>) -> Router {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::ping))
        .routes(routes!(health::health))
        .routes(routes!(sessions::create_session, sessions::list_sessions))
        .routes(routes!(
            sessions::get_session,
            sessions::update_session,
            sessions::delete_session
        ))
        .routes(routes!(sessions::start_session))
        .routes(routes!(sessions::stop_session))
        .routes(routes!(sessions::logout_session))
        .routes(routes!(sessions::restart_session))
        .routes(routes!(sessions::start_session_by_body))
        .routes(routes!(sessions::stop_session_by_body))
        .routes(routes!(sessions::logout_session_by_body))
        .routes(routes!(sessions::get_me))
        .routes(routes!(pairing::get_qr))
        .routes(routes!(pairing::request_code))
        .merge(waha::routes())
        .merge(wawp::routes())
        .merge(onprem::routes())
        .routes(routes!(whinself::get_contact))
        .routes(routes!(whinself::get_contacts))
        .merge(dashboard::routes())
        .routes(routes!(webhooks::get_identity, webhooks::put_identity))
        .routes(routes!(webhooks::list_failed))
        .routes(routes!(webhooks::retry_failed))
        .routes(routes!(webhook_deliveries::list_deliveries))
        .split_for_parts();

    utoipa::Modify::modify(&Frame, &mut openapi);
    let (api_key, metrics) = (state.api_key.clone(), state.metrics.clone());
    let node = axum::http::HeaderValue::from_str(state.proxy.leases().node_id().as_str())
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("unnamed"));
    let mut app = api
        // After routing (it reads the route's `{session}`): a session held by another
        // node is answered there.
        .route_layer(middleware::from_fn_with_state(
            state.proxy.clone(),
            crate::lease::proxy::forward,
        ))
        .route("/metrics", get(metrics::serve_metrics))
        .with_state(state)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi));
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    app.fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            api_key,
            auth::require_api_key,
        ))
        .layer(middleware::from_fn(dashboard::redirect_browsers))
        .layer(middleware::from_fn_with_state(
            node,
            crate::lease::proxy::tag_node,
        ))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            request_timeout,
        ))
        // On-Prem's error shape for every error of `/v1`, timeouts included.
        .layer(middleware::from_fn(onprem::edge))
        // Outermost: Wawp's statuses apply to every answer of `/v2`, timeouts included.
        .layer(middleware::from_fn_with_state(
            limits.body_bytes,
            wawp::edge,
        ))
}

/// Middleware: answers 504 in our error shape when a request takes too long.
async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "request_timeout",
            format!("The request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

#[cfg(feature = "sandbox")]
type SandboxHandle = crate::sandbox::Sandbox;
#[cfg(not(feature = "sandbox"))]
type SandboxHandle = std::convert::Infallible;

/// Starts the in-process WhatsApp and points the engine at it.
#[cfg(feature = "sandbox")]
async fn start_sandbox(
    settings: &crate::config::SandboxSettings,
    engine: &mut EngineConfig,
) -> anyhow::Result<SandboxHandle> {
    let sandbox = crate::sandbox::Sandbox::start(settings.seed.as_deref()).await?;
    // The simulated WhatsApp keeps its state beside ours, so a restart restores
    // every linked session without a scan, as the real WhatsApp would.
    if let Err(e) = sandbox.persist_in(&engine.data_dir) {
        tracing::warn!(error = %format!("{e:#}"), "the sandbox keeps its state in memory only");
    }
    engine.whatsapp_url = Some(sandbox.ws_url());
    engine.client_version = Some(crate::sandbox::CLIENT_VERSION);
    Ok(sandbox)
}

#[cfg(not(feature = "sandbox"))]
async fn start_sandbox(
    _: &crate::config::SandboxSettings,
    _: &mut EngineConfig,
) -> anyhow::Result<SandboxHandle> {
    anyhow::bail!(
        "This build has no sandbox: run `cargo run --release -p wacontacts --features sandbox -- serve --sandbox`"
    )
}

/// Stops the in-process WhatsApp after the sessions: its last changes (a block made
/// just before the stop) are saved, as WhatsApp would keep them.
#[cfg(feature = "sandbox")]
async fn stop_sandbox(sandbox: SandboxHandle) {
    sandbox.shutdown().await;
}

#[cfg(not(feature = "sandbox"))]
async fn stop_sandbox(sandbox: SandboxHandle) {
    match sandbox {}
}

/// wasim's admin API under `/sandbox/admin`, when the sandbox runs.
#[cfg(feature = "sandbox")]
fn sandbox_routes(sandbox: Option<&SandboxHandle>) -> Option<Router> {
    sandbox.map(|s| Router::new().nest("/sandbox/admin", s.admin_router()))
}

#[cfg(not(feature = "sandbox"))]
fn sandbox_routes(_: Option<&SandboxHandle>) -> Option<Router> {
    None
}

/// A built server: the port is bound, the database open and migrated.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    engine: Engine,
    addr: SocketAddr,
    key_source: KeySource,
    shutdown_timeout: Duration,
    queue: CheckQueue,
    leases: Leases,
    /// The in-process WhatsApp (`--sandbox`): stopped last, which saves its state.
    sandbox: Option<SandboxHandle>,
}

impl Application {
    /// Opens the data dir, resolves the API key and binds the port (port 0 picks one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if settings.api_key.is_none() && !settings.listen.ip().is_loopback() {
            anyhow::bail!(
                "Refusing to listen on {} without an API key: set WACONTACTS_API_KEY \
                 (or api_key in the config file), or listen on a loopback address",
                settings.listen
            );
        }
        let store = match &settings.database {
            Some(url) => Store::open(url).await?,
            None => Store::open_in_dir(&settings.data_dir).await?,
        };
        tracing::info!(database = store.backend(), "database open");
        // Bound first: the advertised URL defaults to the bound address.
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("Failed to listen on {}", settings.listen))?;
        let addr = listener
            .local_addr()
            .context("Failed to read the bound address")?;
        let (api_key, key_source) = ApiKey::resolve(settings.api_key.clone(), &settings.data_dir)?;
        let mut engine_config = EngineConfig::new(&settings.data_dir);
        engine_config.whatsapp_url = settings.whatsapp_url.clone();
        engine_config.client_version = settings.whatsapp_version;
        let sandbox = match &settings.sandbox {
            Some(sandbox) => Some(start_sandbox(sandbox, &mut engine_config).await?),
            None => None,
        };
        engine_config.device_name = Some("wacontacts".into());
        engine_config.pre_key_count = settings.pre_key_count;
        engine_config.qr_timeout = settings.qr_timeout;
        engine_config.max_concurrent_logins = settings.max_concurrent_logins;
        // Stored facts wake their session's webhook task (set once the dispatcher exists).
        let dispatcher = Arc::new(std::sync::OnceLock::new());
        let sink = crate::webhooks::WakingSink::new(Arc::new(store.clone()), dispatcher.clone());
        let engine = Engine::new(engine_config, Arc::new(sink), store.devices());
        let identity =
            crate::lease::node::Identity::resolve(settings.node_id.clone(), &settings.data_dir)?;
        let sole_on_machine = identity.is_locked() && store.backend() == "sqlite";
        let leases = Leases::new(
            identity.id.clone(),
            crate::lease::node::advertised_url(settings.advertise_url.as_deref(), addr),
            settings.lease,
            Arc::new(store.clone()),
            engine.clone(),
            identity,
        );
        let sessions = SessionService::new(
            Arc::new(store.clone()),
            Arc::new(LeasedRuntime {
                engine: engine.clone(),
                leases: leases.clone(),
            }),
            Arc::new(TokioClock),
            Policy::default(),
        );
        #[cfg(feature = "sandbox")]
        if let (Some(sandbox), Some(settings)) = (&sandbox, &settings.sandbox)
            && !settings.manual_scan
        {
            sandbox.spawn_auto_scan(&engine);
        }
        let webhooks = Dispatcher::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(engine.clone()),
            settings.webhook.clone(),
            Arc::new(TokioClock),
        )?;
        let _ = dispatcher.set(webhooks.clone());
        webhooks.set_gate(leases.gate());
        spawn_status_recorder(&engine, sessions.clone(), webhooks.clone());
        let checks = CheckService::new(
            Arc::new(store.clone()),
            sessions.clone(),
            Arc::new(TokioSpawner),
            settings.checks,
        );
        let queue = CheckQueue::new(
            Arc::new(store.clone()),
            checks.clone(),
            Arc::new(HttpCallbacks::new()?),
            Arc::new(TokioClock),
            Arc::new(TokioSpawner),
            settings.check_queue,
        );
        queue.set_gate(leases.gate());
        leases.follow(webhooks.clone(), queue.clone());
        // The first round takes this node's share of the sessions (all of them when it
        // runs alone) and starts those the user left running: a restart brings linked
        // sessions back to WORKING without a new scan.
        leases.join(sole_on_machine).await?;
        leases.prune().await;
        leases.tick().await;
        leases.spawn();
        webhooks.spawn();
        let held = leases.held().len();
        if held > 0 {
            tracing::info!(sessions = held, node = %leases.node_id(), "holding sessions");
        }
        // Checks queued before a restart are checked and delivered as if none happened.
        let queued = queue.resume().await.map_err(|e| e.0)?;
        if queued > 0 {
            tracing::info!(sessions = queued, "resuming queued number checks");
        }
        let state = AppState {
            contacts: ContactService::new(Arc::new(store.clone()), sessions.clone()),
            checks,
            onprem: onprem::OnPrem {
                session: settings.onprem_session.clone(),
                queue: queue.clone(),
                token_ttl: settings.onprem_token_ttl,
            },
            sessions,
            store: store.clone(),
            api_key,
            metrics: Metrics::new(),
            identity: IdentityService::new(Arc::new(store.clone())),
            webhooks,
            proxy: Proxy::new(
                leases.clone(),
                settings.onprem_session.clone(),
                settings.body_limit,
                settings.request_timeout,
            )?,
        };
        let limits = Limits {
            body_bytes: settings.body_limit,
            request_timeout: settings.request_timeout,
        };
        Ok(Self {
            listener,
            router: router(state, limits, sandbox_routes(sandbox.as_ref())),
            store,
            engine,
            addr,
            key_source,
            shutdown_timeout: settings.shutdown_timeout,
            queue,
            leases,
            sandbox,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the API key in force came from.
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for at
    /// most the shutdown timeout, and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
        let grace = self.shutdown_timeout;
        tokio::select! {
            result = server => result.context("The HTTP server failed")?,
            () = async move {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("shutdown timeout passed; dropping open connections"),
        }
        self.queue.stop();
        self.engine.shutdown().await;
        // After the clients' last device writes: the other nodes take over at once.
        self.leases.leave().await;
        if let Some(sandbox) = self.sandbox {
            stop_sandbox(sandbox).await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Persists every status change the engine reports, until the engine goes away.
/// Each change is also queued as a `session.status` webhook event.
fn spawn_status_recorder(engine: &Engine, sessions: SessionService, webhooks: Dispatcher) {
    let mut changes = engine.subscribe();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match changes.recv().await {
                Ok(change) => {
                    if let Err(e) = sessions.record_status(&change.session, &change.state).await {
                        tracing::warn!(error = %format!("{e:#}"), "failed to record a session status");
                    }
                    let payload = serde_json::json!({
                        "name": change.session.as_str(),
                        "status": change.state.status.as_str(),
                    });
                    if let Err(e) = webhooks
                        .enqueue(
                            &change.session,
                            wacontacts_core::webhook::SESSION_STATUS,
                            payload,
                        )
                        .await
                    {
                        tracing::warn!(error = %format!("{e:#}"), "failed to queue a session.status webhook");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let written = crate::status_catchup::record_current(&sessions).await;
                    tracing::warn!(
                        missed,
                        written,
                        "status changes came faster than they were recorded; recorded the current ones"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn slow_requests_are_answered_504_in_json() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(
                Duration::from_millis(50),
                request_timeout,
            ));
        let slow = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(slow.status(), axum::http::StatusCode::GATEWAY_TIMEOUT);
        let body = axum::body::to_bytes(slow.into_body(), 4096).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "request_timeout");
        assert_eq!(json["statusCode"], 504);
        let fast = app
            .oneshot(Request::get("/fast").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(fast.status(), axum::http::StatusCode::OK);
    }
}
