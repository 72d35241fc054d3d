//! Prometheus metrics: request counts and latencies per route template (never the raw
//! path, which may hold phone numbers), served as text at `/metrics`. Every label comes
//! from a fixed set, whatever a client sends: methods outside the usual seven count as
//! `other`, paths no route matches as `unmatched`, and statuses by their code only when
//! it is one we answer with (else their class, `2xx` … `5xx`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: &'static str,
    route: String,
}

/// The process's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

struct Inner {
    registry: Mutex<Registry>,
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wacontacts");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route",
            latency.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                requests,
                latency,
            }),
        }
    }

    fn observe(&self, method: &'static str, route: &str, status: &'static str, seconds: f64) {
        self.inner
            .requests
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.inner
            .latency
            .get_or_create(&LatencyLabels {
                method,
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Renders the registry in Prometheus text format.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        let registry = self
            .inner
            .registry
            .lock()
            .map_err(|_| anyhow::anyhow!("metrics registry lock poisoned"))?;
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// The method as a label: one of the usual seven, else `other`.
fn method_label(method: &Method) -> &'static str {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ]
    .iter()
    .find(|m| *m == method)
    .map_or("other", |m| m.as_str())
}

/// The status as a label: its code when it is one we answer with, else its class.
fn status_label(status: StatusCode) -> &'static str {
    const KNOWN: &[&str] = &[
        "200", "201", "204", "206", "304", "400", "401", "403", "404", "405", "408", "409", "413",
        "415", "422", "429", "500", "501", "502", "503", "504",
    ];
    let code = status.as_str();
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or(match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        })
}

/// Middleware: times every request and counts it under its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = status_label(response.status());
    let elapsed = started.elapsed();
    metrics.observe(method, &route, status, elapsed.as_secs_f64());
    tracing::debug!(%method, %route, status, latency_ms = elapsed.as_millis() as u64, "request");
    response
}

/// `GET /metrics` — Prometheus text format.
pub async fn serve_metrics(
    State(state): State<crate::state::AppState>,
) -> Result<Response, ApiError> {
    let text = with_check_counters(state.metrics.render()?, &state.checks.stats());
    let text = before_eof(text, &state.webhooks.depth_metrics().await);
    let text = before_eof(text, &state.proxy.leases().metrics());
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Adds the ban guard's counters, summed over sessions (no session label: the series
/// stay few however many sessions there are; `GET /api/{session}/contacts/check-exists/budget`
/// has them per session), before OpenMetrics' closing `# EOF`.
fn with_check_counters(
    text: String,
    stats: &[(
        wacontacts_core::session::SessionName,
        wacontacts_core::service::CheckStats,
    )],
) -> String {
    use std::fmt::Write;
    let mut sum = wacontacts_core::service::CheckStats::default();
    for (_, s) in stats {
        sum.numbers += s.numbers;
        sum.cache_hits += s.cache_hits;
        sum.lookups += s.lookups;
        sum.queries += s.queries;
        sum.refusals += s.refusals;
    }
    let mut extra = String::new();
    for (name, help, value) in [
        (
            "check_numbers",
            "Numbers asked about in existence checks",
            sum.numbers,
        ),
        (
            "check_cache_hits",
            "Numbers answered from the existence cache",
            sum.cache_hits,
        ),
        (
            "check_lookups",
            "Numbers looked up on WhatsApp (each costs budget)",
            sum.lookups,
        ),
        (
            "check_queries",
            "usync queries sent for existence checks",
            sum.queries,
        ),
        (
            "check_refusals",
            "Check requests refused for the lookup budget",
            sum.refusals,
        ),
    ] {
        let _ = write!(
            extra,
            "# HELP wacontacts_{name} {help}.\n# TYPE wacontacts_{name} counter\nwacontacts_{name}_total {value}\n"
        );
    }
    before_eof(text, &extra)
}

/// Inserts `extra` before OpenMetrics' closing `# EOF`.
fn before_eof(mut text: String, extra: &str) -> String {
    match text.rfind("# EOF") {
        Some(at) => {
            text.insert_str(at, extra);
            text
        }
        None => text + extra,
    }
}
