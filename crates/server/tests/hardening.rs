//! What an unauthenticated or careless client must never get: credentials echoed in
//! errors, session names from the public health check, or an unbounded metrics registry.

mod common;

use common::{API_KEY, TestApp, assert_error_shape, json_of};

#[tokio::test]
async fn a_bad_query_never_echoes_a_credential() {
    let (_dir, app) = TestApp::spawn().await;
    let bare = reqwest::Client::new();

    // Wawp carries the key in the query: a bad `limit` must not send it back.
    let url = app.url(&format!(
        "/v2/contacts/all?instance_id=default&access_token={API_KEY}&limit=abc"
    ));
    let resp = bare.get(url).send().await.unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(400, &body), "invalid_query");
    assert!(!body.to_string().contains(API_KEY), "key echoed: {body}");
    assert!(
        body.to_string().contains("limit=abc"),
        "the offending input is still shown: {body}"
    );

    // Any key-like parameter, in any spelling, on any dialect.
    for query in [
        "session=default&limit=abc&access_token=SECRET-1",
        "session=default&limit=abc&api_key=SECRET-1",
        "session=default&limit=abc&apikey=SECRET-1",
        "session=default&limit=abc&token=SECRET-1",
        "session=default&limit=abc&key=SECRET-1",
        "session=default&limit=abc&access%5Ftoken=SECRET-1",
        "session=default&limit=abc&Api-Key=SECRET-1",
    ] {
        let (status, body) = app.get_json(&format!("/api/contacts/all?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(assert_error_shape(400, &body), "invalid_query");
        assert!(
            !body.to_string().contains("SECRET-1"),
            "{query} echoed: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn public_health_tells_counts_and_the_key_tells_names() {
    let (_dir, app) = TestApp::spawn().await;
    for name in ["sales-team", "support-team"] {
        let (status, body) = app
            .post_json(
                "/api/sessions",
                serde_json::json!({"name": name, "start": false}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // Without the key, or with a wrong one: overall health and counts, no names.
    let bare = reqwest::Client::new();
    for key in [None, Some("not-the-key")] {
        let mut req = bare.get(app.url("/health"));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let (status, body) = json_of(req.send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"]["status"], "ok");
        assert_eq!(body["sessionCounts"]["total"], 2, "{body}");
        assert_eq!(body["sessionCounts"]["STOPPED"], 2, "{body}");
        assert_eq!(body["sessionCounts"]["WORKING"], 0, "{body}");
        assert!(body.get("sessions").is_none(), "{body}");
        assert!(!body.to_string().contains("-team"), "names leak: {body}");
    }

    // With the key: the same, plus each session's name and status.
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessionCounts"]["total"], 2, "{body}");
    assert_eq!(
        body["sessions"],
        serde_json::json!([
            {"name": "sales-team", "status": "STOPPED"},
            {"name": "support-team", "status": "STOPPED"}
        ])
    );
    app.stop().await;
}

/// Series (non-comment lines) in `/metrics`.
async fn series(app: &TestApp) -> Vec<String> {
    let text = app.get_text("/metrics").await;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').map_or(l, |(k, _)| k).to_owned())
        .collect()
}

/// 50 requests without the key, each with a method and a path nobody has used yet.
async fn invented_requests(app: &TestApp, round: u32) {
    let bare = reqwest::Client::new();
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("M{round}X{i}").as_bytes()).unwrap();
        let path = match i % 3 {
            0 => format!("/r{round}/{i}/{}", rand_suffix(i)),
            1 => format!("/api/sessions/s{round}x{i}"),
            _ => "/api/sessions".to_owned(),
        };
        let resp = bare.request(method, app.url(&path)).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
    }
}

fn rand_suffix(i: u32) -> String {
    format!("{:x}", (i as u64 + 7).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let (_dir, app) = TestApp::spawn().await;
    // Reading `/metrics` counts itself: read once so that series exists.
    series(&app).await;
    invented_requests(&app, 1).await;
    let first = series(&app).await;
    invented_requests(&app, 2).await;
    let second = series(&app).await;
    assert_eq!(
        first.len(),
        second.len(),
        "new series after new methods and paths, e.g. {:?}",
        second
            .iter()
            .filter(|s| !first.contains(s))
            .take(3)
            .collect::<Vec<_>>()
    );
    let text = second.join("\n");
    assert!(!text.contains("M1X"), "raw method became a label");
    assert!(!text.contains("/r1/"), "raw path became a label");
    assert!(
        text.contains("method=\"other\""),
        "unknown methods count as other"
    );
    app.stop().await;
}
