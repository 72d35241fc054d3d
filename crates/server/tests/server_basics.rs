//! Auth, errors for unknown routes, health, metrics and OpenAPI over real HTTP.

mod common;

use common::{API_KEY, TestApp, assert_error_shape, json_of};

#[tokio::test]
async fn api_needs_the_key() {
    let (_dir, app) = TestApp::spawn().await;
    let bare = reqwest::Client::new();

    let (status, body) = json_of(bare.get(app.url("/api/sessions")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(assert_error_shape(401, &body), "unauthorized");

    let resp = bare
        .get(app.url("/api/sessions"))
        .header("x-api-key", format!("{API_KEY}x"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 401);
    assert_eq!(assert_error_shape(401, &body), "unauthorized");

    let resp = bare.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let resp = bare
        .get(app.url("/api/sessions"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn health_and_ping_are_public() {
    let (_dir, app) = TestApp::spawn().await;
    let bare = reqwest::Client::new();
    let (status, body) = json_of(bare.get(app.url("/ping")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "pong");

    app.post_json(
        "/api/sessions",
        serde_json::json!({"name": "h1", "start": false}),
    )
    .await;
    let (status, body) = json_of(bare.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["status"], "ok");
    assert_eq!(body["sessionCounts"]["STOPPED"], 1, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let (_dir, app) = TestApp::spawn().await;
    let (status, body) = app.get_json("/api/nothing/here").await;
    assert_eq!(status, 404);
    assert_eq!(assert_error_shape(404, &body), "route_not_found");

    let resp = app
        .client
        .patch(app.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 405);
    assert_eq!(assert_error_shape(405, &body), "method_not_allowed");
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_template() {
    let (_dir, app) = TestApp::spawn().await;
    app.get_json("/api/sessions/one").await;
    app.get_json("/api/sessions/two").await;
    let text = app.get_text("/metrics").await;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("wacontacts_http_requests_total")
                && l.contains("route=\"/api/sessions/{session}\"")
                && l.contains("status=\"404\"")
        })
        .unwrap_or_else(|| panic!("no counter line in:\n{text}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(
        !text.contains("/api/sessions/one"),
        "raw paths never become labels"
    );
    assert!(text.contains("wacontacts_http_request_duration_seconds_bucket"));
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_the_session_routes() {
    let (_dir, app) = TestApp::spawn().await;
    let bare = reqwest::Client::new();
    let (status, doc) = json_of(bare.get(app.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/sessions",
        "/api/sessions/{session}",
        "/health",
        "/ping",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(doc["paths"]["/api/sessions"]["post"]["requestBody"].is_object());
    let resp = bare.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("swagger"));
    app.stop().await;
}

#[tokio::test]
async fn refuses_public_address_without_explicit_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = wacontacts::Settings::for_data_dir(dir.path());
    settings.listen = "0.0.0.0:0".parse().unwrap();
    settings.api_key = None;
    let err = wacontacts::Application::build(settings)
        .await
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("without an API key"), "{err}");
}
