//! Any node answers for any session: a request naming a session held by another live
//! node is forwarded to that node's advertised URL (same method, path, query, headers
//! and body, streamed both ways) and its answer relayed as it is. Every request naming
//! a session goes to the holder, reads included: its live state (`status`, `me`), its
//! single-flight and lookup budget live there. A session nobody holds is taken by the
//! node the request reached. While a dead holder's lease runs out the answer is 503
//! `session_unavailable` with `Retry-After`.
//!
//! A forwarded request carries [`FORWARDED_BY`]; it is never forwarded again (two nodes
//! that disagree for a moment cannot bounce a request between them).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Query, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wacontacts_core::lease::{NodeInfo, Route};
use wacontacts_core::session::SessionName;

use super::Leases;
use crate::error::ApiError;

/// Set on requests one node forwards to another (value: the forwarding node's id).
pub const FORWARDED_BY: &str = "x-wacontacts-forwarded-by";
/// Set on every answer: the id of the node that answered.
pub const NODE: &str = "x-wacontacts-node";

/// What the forwarding middleware needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct Proxy {
    leases: Leases,
    client: reqwest::Client,
    /// The session `/v1` acts on.
    onprem: SessionName,
    body_limit: usize,
}

impl Proxy {
    /// Forwards within `timeout` (the request timeout: the holder has as long as we do).
    pub fn new(
        leases: Leases,
        onprem: SessionName,
        body_limit: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            leases,
            client,
            onprem,
            body_limit,
        })
    }
}

impl Proxy {
    /// This node's leases.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }
}

/// Where a route names its session, beside the path's `{session}` and the query's
/// `session` / `instance_id`.
enum Named {
    Is(SessionName),
    /// A field of the JSON body (WAHA's `POST /api/sessions/start` `name`, block's
    /// `session`), else `default` when `or_default`.
    InBody {
        field: &'static str,
        or_default: bool,
    },
    /// The route names no session (listing, health, login).
    Nothing,
}

fn named(parts: &mut Parts, path: &[(String, String)], onprem: &SessionName) -> Named {
    let parse = |s: &str| SessionName::parse(s).ok();
    if let Some((_, s)) = path.iter().find(|(k, _)| k == "session") {
        // An invalid name is the handler's 400 to give.
        return parse(s).map_or(Named::Nothing, Named::Is);
    }
    let query = Query::<std::collections::HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    if let Some(s) = query.get("session").or_else(|| query.get("instance_id")) {
        return parse(s).map_or(Named::Nothing, Named::Is);
    }
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    match route.as_str() {
        "/v1/users/login" => Named::Nothing,
        r if r.starts_with("/v1/") => Named::Is(onprem.clone()),
        "/api/sessions/start" | "/api/sessions/stop" | "/api/sessions/logout" => Named::InBody {
            field: "name",
            or_default: false,
        },
        "/api/contacts/block" | "/api/contacts/unblock" => Named::InBody {
            field: "session",
            or_default: true,
        },
        r if r.starts_with("/api/contacts") || r == "/getcontact" || r == "/getcontacts" => {
            Named::Is(SessionName::default_name())
        }
        _ => Named::Nothing,
    }
}

/// Middleware (after routing): answers here, forwards to the holder, or 503.
pub async fn forward(State(proxy): State<Proxy>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(FORWARDED_BY) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let path: Vec<(String, String)> = match RawPathParams::from_request_parts(&mut parts, &()).await
    {
        Ok(raw) => raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let (session, body) = match named(&mut parts, &path, &proxy.onprem) {
        Named::Is(s) => (Some(s), body),
        Named::Nothing => (None, body),
        Named::InBody { field, or_default } => {
            let Ok(bytes) = axum::body::to_bytes(body, proxy.body_limit).await else {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The request body is larger than the server accepts",
                )
                .into_response();
            };
            let found = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get(field)?.as_str().map(str::to_owned))
                .and_then(|s| SessionName::parse(&s).ok())
                .or_else(|| or_default.then(SessionName::default_name));
            (found, Body::from(bytes))
        }
    };
    let request = Request::from_parts(parts, body);
    let Some(session) = session else {
        return next.run(request).await;
    };
    match proxy.leases.route(&session).await {
        Ok(Route::Local) => next.run(request).await,
        Ok(Route::Remote(node)) => proxy.send(&session, &node, request).await,
        Ok(Route::Unavailable) => unavailable(&session, proxy.leases.policy().ttl),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "failed to read a session's lease");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_unavailable",
                "Where the session runs could not be read from the database",
            )
            .with_value(session.to_string())
            .with_retry_after(1)
            .into_response()
        }
    }
}

/// 503: the session's holder stopped answering and its lease has not run out yet.
fn unavailable(session: &SessionName, ttl: Duration) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "session_unavailable",
        "The node running this session stopped answering; another takes it over when its lease expires",
    )
    .with_value(session.to_string())
    .with_retry_after(ttl.as_secs().max(1) as u32)
    .into_response()
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and
/// `host` (the holder's own) and `content-length` (the body is streamed).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

impl Proxy {
    async fn send(&self, session: &SessionName, node: &NodeInfo, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let target = format!(
            "{}{}",
            node.url,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut out = self
            .client
            .request(parts.method.clone(), &target)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()));
        for (name, value) in parts.headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
            out = out.header(name, value);
        }
        out = out.header(FORWARDED_BY, self.leases.node_id().as_str());
        let answer = match out.send().await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(node = %node.id, error = %e, "forwarding to a session's node failed");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "session_unavailable",
                    format!("The node running this session ({}) did not answer", node.id),
                )
                .with_value(session.to_string())
                .with_retry_after(1)
                .into_response();
            }
        };
        let mut response = Response::builder().status(answer.status().as_u16());
        if let Some(headers) = response.headers_mut() {
            for (name, value) in answer.headers().iter().filter(|(n, _)| !hop_by_hop(n)) {
                headers.append(name, value.clone());
            }
        }
        response
            .body(Body::from_stream(answer.bytes_stream()))
            .unwrap_or_else(|e| ApiError::internal(anyhow::anyhow!(e)).into_response())
    }
}

/// Middleware: names the answering node on every answer (a forwarded answer keeps the
/// holder's).
pub async fn tag_node(State(node): State<HeaderValue>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().entry(NODE).or_insert(node);
    response
}
