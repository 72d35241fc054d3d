//! The sessions API over real HTTP against a real SQLite file.

mod common;

use common::{TestApp, assert_error_shape, json_of};
use serde_json::json;

#[tokio::test]
async fn create_list_get_update_delete() {
    let (_dir, app) = TestApp::spawn().await;

    let (status, body) = app
        .post_json(
            "/api/sessions",
            json!({"name": "sales", "start": false, "config": {"metadata": {"team": "eu"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "sales");
    assert_eq!(body["status"], "STOPPED");
    assert_eq!(body["config"]["metadata"]["team"], "eu");

    // Omitted name means "default".
    let (status, body) = app
        .post_json("/api/sessions", json!({"start": false}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "default");

    // Stopped sessions are only listed with all=true.
    let (status, body) = app.get_json("/api/sessions").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!([]));
    let (status, body) = app.get_json("/api/sessions?all=true").await;
    assert_eq!(status, 200);
    let names: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("default"), json!("sales")]);
    assert_eq!(body[1]["timestamps"], json!({"activity": null}));

    let (status, body) = app.get_json("/api/sessions/sales").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "STOPPED");
    assert_eq!(body["config"]["metadata"]["team"], "eu");

    let (status, body) = app
        .put_json(
            "/api/sessions/sales",
            json!({"config": {"webhooks": [{"url": "https://example.com/hook", "events": ["session.status"]}]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["config"]["webhooks"][0]["url"],
        "https://example.com/hook"
    );
    assert!(
        body["config"].get("metadata").is_none(),
        "PUT replaces the config"
    );

    let (status, _) = app.delete("/api/sessions/sales").await;
    assert_eq!(status, 200);
    let (status, body) = app.get_json("/api/sessions/sales").await;
    assert_eq!(status, 404);
    assert_eq!(assert_error_shape(404, &body), "session_not_found");
    assert_eq!(body["value"], "sales");

    // Deleting again is not an error (WAHA: idempotent).
    let (status, _) = app.delete("/api/sessions/sales").await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let (status, _) = app
        .post_json(
            "/api/sessions",
            json!({"name": "kept", "start": false, "config": {"checks": {"budgetPerHour": 7}}}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, health) = app.get_json("/health").await;
    let node = health["node"]["id"].clone();
    assert!(node.is_string(), "{health}");
    app.stop().await;

    // A clean stop hands the data dir's node id back at once: the next process runs
    // as the same node (and finds its leases its own, not a vanished node's).
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let (_, health) = app.get_json("/health").await;
    assert_eq!(health["node"]["id"], node, "{health}");
    let (status, body) = app.get_json("/api/sessions/kept").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["checks"]["budgetPerHour"], 7);
    let (_, list) = app.get_json("/api/sessions?all=true").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn duplicate_names_are_refused() {
    let (_dir, app) = TestApp::spawn().await;
    let (status, _) = app
        .post_json("/api/sessions", json!({"name": "a", "start": false}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .post_json("/api/sessions", json!({"name": "a", "start": false}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(assert_error_shape(422, &body), "session_exists");
    app.stop().await;
}

#[tokio::test]
async fn bad_session_names_are_400_with_the_value() {
    let (_dir, app) = TestApp::spawn().await;
    let long = "x".repeat(65);
    for bad in ["", "has space", "semi;colon", "ü", long.as_str()] {
        let (status, body) = app.post_json("/api/sessions", json!({"name": bad})).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(assert_error_shape(400, &body), "invalid_session_name");
        assert_eq!(body["value"], bad);
    }
    let (status, body) = app.get_json("/api/sessions/bad%20name").await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_session_name");
    assert_eq!(body["value"], "bad name");
    app.stop().await;
}

#[tokio::test]
async fn unknown_session_is_404() {
    let (_dir, app) = TestApp::spawn().await;
    let (status, body) = app.get_json("/api/sessions/nobody").await;
    assert_eq!(status, 404);
    assert_eq!(assert_error_shape(404, &body), "session_not_found");
    let (status, body) = app
        .put_json("/api/sessions/nobody", json!({"config": {}}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(assert_error_shape(404, &body), "session_not_found");
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400() {
    let (_dir, app) = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/api/sessions"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_json");

    let (status, body) = app.post_json("/api/sessions", json!({"name": 42})).await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_body");

    let (status, body) = app
        .post_json(
            "/api/sessions",
            json!({"name": "w", "config": {"webhooks": [{"url": "ftp://x", "events": []}]}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_webhook_url");
    assert_eq!(body["value"], "ftp://x");

    let (status, body) = app.get_json("/api/sessions?all=maybe").await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_query");
    app.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let (_dir, app) = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/api/sessions"))
        .header("content-type", "text/plain")
        .body("{\"name\": \"a\"}")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 415);
    assert_eq!(assert_error_shape(415, &body), "unsupported_media_type");
    app.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let (_dir, app) = TestApp::spawn().await;
    let big = "a".repeat(1024 * 1024 + 10);
    let (status, body) = app
        .post_json(
            "/api/sessions",
            json!({"name": "big", "config": {"metadata": {"k": big}}}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(assert_error_shape(413, &body), "payload_too_large");
    let (status, _) = app.get_json("/api/sessions/big").await;
    assert_eq!(status, 404, "nothing was created");
    app.stop().await;
}

/// A config field the server would not act on is refused, not stored and ignored;
/// a null one (WAHA clients send `proxy: null`) is accepted and not stored.
#[tokio::test]
async fn config_fields_not_acted_on_are_refused() {
    let (_dir, app) = TestApp::spawn().await;
    for (config, field) in [
        (json!({"proxy": {"server": "localhost:3128"}}), "proxy"),
        (json!({"noweb": {"store": {"enabled": true}}}), "noweb"),
        (json!({"debug": true}), "debug"),
    ] {
        let (status, body) = app
            .post_json(
                "/api/sessions",
                json!({"name": "x", "start": false, "config": config}),
            )
            .await;
        assert_eq!(
            assert_error_shape(status, &body),
            "unsupported_config_field"
        );
        assert_eq!(body["value"], field);
    }
    let (status, body) = app
        .post_json(
            "/api/sessions",
            json!({"name": "x", "start": false, "config": {"checks": {"budgetPerHour": "lots"}}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .post_json(
            "/api/sessions",
            json!({"name": "x", "start": false, "apps": [{"app": "chatwoot"}]}),
        )
        .await;
    assert_eq!(assert_error_shape(status, &body), "unsupported_field");
    let (status, body) = app
        .post_json(
            "/api/sessions",
            json!({"name": "x", "start": false, "apps": [], "config": {"proxy": null, "debug": false}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["config"].get("proxy").is_none(), "{body}");
    app.stop().await;
}

/// WAHA's deprecated body forms: `stop` acts on `logout`; what is not served is refused.
#[tokio::test]
async fn deprecated_body_forms_act_on_what_they_take() {
    let (_dir, app) = TestApp::spawn().await;
    let (status, _) = app
        .post_json("/api/sessions", json!({"name": "old", "start": false}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .post_json("/api/sessions/stop", json!({"name": "old"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, info) = app.get_json("/api/sessions/old").await;
    assert!(info["failureReason"].is_null(), "a plain stop: {info}");
    let (status, body) = app
        .post_json("/api/sessions/stop", json!({"name": "old", "logout": true}))
        .await;
    assert_eq!(status, 201, "{body}");
    common::eventually("the logout's reason", || async {
        let (_, info) = app.get_json("/api/sessions/old").await;
        (info["failureReason"] == "logged out").then_some(())
    })
    .await;
    let (status, body) = app
        .post_json("/api/sessions/start", json!({"name": "old", "config": {}}))
        .await;
    assert_eq!(assert_error_shape(status, &body), "invalid_body");
    let (status, body) = app.get_json("/api/sessions?expand=apps").await;
    assert_eq!(assert_error_shape(status, &body), "unsupported_parameter");
    app.stop().await;
}

/// Two processes given the same `--node-id` on one database would run the same sessions
/// twice: the second one refuses to start (after waiting out a TTL for a crashed
/// predecessor's heartbeat), naming the flag to change.
#[tokio::test]
async fn a_node_id_in_use_by_a_live_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = wacontacts_core::lease::MIN_TTL;
    let node = |s: &mut wacontacts::Settings| {
        s.node_id = Some(wacontacts_core::lease::NodeId::parse("web-1").unwrap());
        s.lease = wacontacts_core::lease::LeasePolicy::new(ttl).unwrap();
    };
    let first = TestApp::spawn_in(dir.path(), node).await;

    let mut settings = wacontacts::Settings::for_data_dir(dir.path());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.api_key = Some(common::API_KEY.into());
    node(&mut settings);
    let second = tokio::time::timeout(ttl * 4, wacontacts::Application::build(settings))
        .await
        .expect("the second process gives up within twice the TTL");
    let error = format!(
        "{:#}",
        second.err().expect("the second process must not start")
    );
    assert!(
        error.contains("node id web-1 is in use by another live process")
            && error.contains("--node-id"),
        "{error}"
    );
    first.stop().await;

    // Stopped cleanly, the id is free at once.
    let again = TestApp::spawn_in(dir.path(), node).await;
    let (status, _) = again.get_json("/health").await;
    assert_eq!(status, 200);
    again.stop().await;
}
