//! WhatsApp Business On-Premises' dialect (`/v1`) end to end: the real server against
//! wasim, with a local callback receiver for `no_wait` answers.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use common::{API_KEY, Linked, TestApp, eventually, json_of};
use serde_json::{Value, json};
use wasim::DirectoryUser;

/// An Indian account, as in On-Prem's number-format table.
const ME: &str = "919876543210";

/// A client with no credentials of its own.
fn bare() -> reqwest::Client {
    reqwest::Client::new()
}

async fn login(app: &TestApp, password: &str) -> reqwest::Response {
    bare()
        .post(app.url("/v1/users/login"))
        .basic_auth("admin", Some(password))
        .send()
        .await
        .unwrap()
}

/// Asserts On-Prem's error shape and returns the error's numeric code.
fn onprem_error(body: &Value) -> u64 {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    assert!(errors[0]["title"].is_string(), "{body}");
    assert!(errors[0]["details"].is_string(), "{body}");
    errors[0]["code"]
        .as_u64()
        .unwrap_or_else(|| panic!("numeric code: {body}"))
}

/// `POST /v1/contacts` with the API key.
async fn contacts(app: &TestApp, body: Value) -> (u16, Value) {
    app.post_json("/v1/contacts", body).await
}

/// A local receiver of callbacks: records what it accepted; answers 503 while down.
struct Receiver {
    url: String,
    accepted: Arc<Mutex<Vec<Value>>>,
    attempts: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
}

impl Receiver {
    async fn start(up: bool) -> Receiver {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicUsize::new(0));
        let up = Arc::new(AtomicBool::new(up));
        let (a, n, u) = (accepted.clone(), attempts.clone(), up.clone());
        let app = axum::Router::new().route(
            "/callback",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let (a, n, u) = (a.clone(), n.clone(), u.clone());
                async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    if u.load(Ordering::SeqCst) {
                        a.lock().unwrap().push(body);
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url,
            accepted,
            attempts,
            up,
        }
    }

    /// Every contact accepted so far, by input (a redelivery counts once).
    fn contacts(&self) -> std::collections::BTreeMap<String, Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b["contacts"].as_array().unwrap().clone())
            .map(|c| (c["input"].as_str().unwrap().to_owned(), c))
            .collect()
    }

    fn callbacks(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }
}

async fn set_callback(app: &TestApp, url: &str) {
    let response = app
        .client
        .patch(app.url("/v1/settings/application"))
        .json(&json!({"webhooks": {"url": url}}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_gives_a_bearer_token_and_errors_are_on_prems() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), |s| {
        s.onprem_token_ttl = Duration::from_secs(3);
    })
    .await;
    let (status, body) = app
        .post_json("/api/sessions", json!({"name": "default", "start": false}))
        .await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = json_of(login(&app, API_KEY).await).await;
    assert_eq!(status, 200, "{body}");
    let token = body["users"][0]["token"].as_str().unwrap().to_owned();
    let expires = body["users"][0]["expires_after"].as_str().unwrap();
    assert_eq!(
        expires.len(),
        "2018-03-01 15:29:26+00:00".len(),
        "{expires}"
    );
    assert!(
        expires.ends_with("+00:00") && expires.as_bytes()[10] == b' ',
        "{expires}"
    );

    let settings = |token: String| {
        bare()
            .get(app.url("/v1/settings/application"))
            .bearer_auth(token)
            .send()
    };
    let (status, body) = json_of(settings(token.clone()).await.unwrap()).await;
    assert_eq!(status, 200, "the token works: {body}");

    // Wrong password, no credentials, a garbage token: 401 in On-Prem's shape.
    let (status, body) = json_of(login(&app, "wrong").await).await;
    assert_eq!((status, onprem_error(&body)), (401, 1005), "{body}");
    let response = bare()
        .get(app.url("/v1/settings/application"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!((status, onprem_error(&body)), (401, 1005), "{body}");
    let (status, body) = json_of(settings("garbage".into()).await.unwrap()).await;
    assert_eq!((status, onprem_error(&body)), (401, 1005), "{body}");
    assert!(!body.to_string().contains(API_KEY), "no secret in errors");
    // A bad token is refused even beside a good API key.
    let response = app
        .client
        .get(app.url("/v1/settings/application"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!((status, onprem_error(&body)), (401, 1005), "{body}");
    // A token does not open the other dialects.
    let response = bare()
        .get(app.url("/api/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // The token expires.
    eventually("the token to expire", || async {
        let status = settings(token.clone()).await.unwrap().status();
        (status == 401).then_some(())
    })
    .await;
    let (_, body) = json_of(settings(token.clone()).await.unwrap()).await;
    assert_eq!(onprem_error(&body), 1005);

    // Settings round trip; what is not served is refused.
    let (status, body) = app.get_json("/v1/settings/application").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"settings": {"application": {"webhooks": {}}}}));
    set_callback(&app, "https://example.com/cb?x=1").await;
    let (_, body) = app.get_json("/v1/settings/application").await;
    assert_eq!(
        body["settings"]["application"]["webhooks"]["url"],
        "https://example.com/cb?x=1"
    );
    for (patch, code) in [
        (
            json!({"webhooks": {"url": "https://x.test/"}, "callback_persist": true}),
            1010,
        ),
        (
            json!({"webhooks": {"url": "https://x.test/", "max_concurrent_requests": 6}}),
            1010,
        ),
        (json!({"webhooks": {"url": "ftp://x.test/"}}), 1009),
        (json!({"webhooks": {}}), 1008),
    ] {
        let response = app
            .client
            .patch(app.url("/v1/settings/application"))
            .json(&patch)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(
            (status, onprem_error(&body)),
            (400, code),
            "{patch} → {body}"
        );
    }
    let (_, body) = app.get_json("/v1/settings/application").await;
    assert_eq!(
        body["settings"]["application"]["webhooks"]["url"], "https://example.com/cb?x=1",
        "refused patches change nothing"
    );

    // Bad bodies and unknown routes, in On-Prem's shape too.
    for (body, code) in [
        (json!({"contacts": ["1"], "blocking": "later"}), 1009),
        (json!({"contacts": ["1"], "force_check": "yes"}), 1009),
        (json!({"contacts": ["1"], "extra": 1}), 1010),
        (json!({"blocking": "wait"}), 1008),
        (json!({"contacts": []}), 1009),
    ] {
        let (status, answer) = contacts(&app, body.clone()).await;
        assert_eq!(
            (status, onprem_error(&answer)),
            (400, code),
            "{body} → {answer}"
        );
    }
    let response = app
        .client
        .post(app.url("/v1/contacts"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!((status, onprem_error(&body)), (400, 1009), "{body}");
    let (status, body) = app.get_json("/v1/nothing-here").await;
    assert_eq!((status, onprem_error(&body)), (404, 1006), "{body}");
    // The session is not running: On-Prem's "service not ready".
    let (status, body) = contacts(&app, json!({"contacts": ["+15550100001"]})).await;
    assert_eq!((status, onprem_error(&body)), (503, 1011), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_answers_valid_and_invalid_in_the_accounts_own_country() {
    let users = vec![
        DirectoryUser::new("916315551002"),
        DirectoryUser::new("16315551002"),
    ];
    let linked = Linked::start(users).await;
    linked.link("default", ME).await;
    let inputs = json!([
        "6315551002",        // national: +91 6315551002, on WhatsApp
        "+1-631-555-1002",   // international, on WhatsApp
        "1-631-555-1002",    // national: +91 16315551002, not on WhatsApp
        "+1 (516) 283-7151", // not on WhatsApp
        "not a number",
    ]);
    let (status, body) =
        contacts(&linked.app, json!({"blocking": "wait", "contacts": inputs})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"contacts": [
            {"input": "6315551002", "status": "valid", "wa_id": "916315551002"},
            {"input": "+1-631-555-1002", "status": "valid", "wa_id": "16315551002"},
            {"input": "1-631-555-1002", "status": "invalid"},
            {"input": "+1 (516) 283-7151", "status": "invalid"},
            {"input": "not a number", "status": "invalid"},
        ]})
    );
    // Answered from the cache now: no_wait has nothing left to process.
    let before = linked.usync_counts(ME).await;
    let (status, again) = contacts(&linked.app, json!({"contacts": inputs})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, body);
    assert_eq!(linked.usync_counts(ME).await, before, "nothing looked up");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapps_429_is_failed() {
    let linked = Linked::start(vec![DirectoryUser::new("916315551002")]).await;
    linked.link("default", ME).await;
    linked.rate_limit_next_usync().await;
    let (status, body) = contacts(
        &linked.app,
        json!({"blocking": "wait", "contacts": ["6315551002", "x"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"contacts": [
            {"input": "6315551002", "status": "failed"},
            {"input": "x", "status": "invalid"},
        ]})
    );
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_answers_processing_and_delivers_the_pending_ones_across_a_restart() {
    let linked = Linked::start(vec![
        DirectoryUser::new("916315551001"),
        DirectoryUser::new("916315551002"),
    ])
    .await;
    linked.link("default", ME).await;
    let receiver = Receiver::start(false).await;
    set_callback(&linked.app, &receiver.url).await;
    // One number is in the cache already.
    let (status, body) = contacts(
        &linked.app,
        json!({"blocking": "wait", "contacts": ["+91 63155 51001"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = contacts(
        &linked.app,
        json!({"contacts": ["6315551001", "6315551002", "6315551003", "garbage"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"contacts": [
            {"input": "6315551001", "status": "valid", "wa_id": "916315551001"},
            {"input": "6315551002", "status": "processing"},
            {"input": "6315551003", "status": "processing"},
            {"input": "garbage", "status": "invalid"},
        ]})
    );
    // Checked, but the receiver is down: the answers wait in the store.
    eventually("a delivery attempt", || async {
        (receiver.attempts.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    let linked = linked.restart_app().await;
    receiver.up.store(true, Ordering::SeqCst);
    let got = eventually("the pending answers", || async {
        let got = receiver.contacts();
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(
        got.into_values().collect::<Vec<_>>(),
        vec![
            json!({"input": "6315551002", "status": "valid", "wa_id": "916315551002"}),
            json!({"input": "6315551003", "status": "invalid"}),
        ],
        "exactly the pending ones"
    );
    linked.stop().await;
}

fn short_budget_window(s: &mut wacontacts::Settings) {
    s.checks.budget_window = Duration::from_secs(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_budget_numbers_stay_processing_until_it_refills() {
    let linked = Linked::start_with(
        (1..=4)
            .map(|i| DirectoryUser::new(format!("91631555100{i}")))
            .collect(),
        short_budget_window,
    )
    .await;
    linked.link("default", ME).await;
    linked.set_check_budget("default", 2).await;
    let receiver = Receiver::start(true).await;
    set_callback(&linked.app, &receiver.url).await;
    let inputs: Vec<String> = (1..=4).map(|i| format!("631555100{i}")).collect();
    let (status, body) = contacts(&linked.app, json!({"contacts": inputs})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "processing"),
        "{body}"
    );
    let got = eventually("every answer", || async {
        let got = receiver.contacts();
        (got.len() == 4).then_some(got)
    })
    .await;
    assert!(got.values().all(|c| c["status"] == "valid"), "{got:?}");
    let callbacks = receiver.callbacks();
    assert_eq!(
        callbacks[0]["contacts"].as_array().unwrap().len(),
        2,
        "the budget's two first, the rest once it refilled: {callbacks:?}"
    );
    // The budget is spent for the next seconds: `wait` answers `failed` and says
    // when to retry, without asking WhatsApp.
    let before = linked.usync_counts(ME).await;
    let response = linked
        .app
        .client
        .post(linked.app.url("/v1/contacts"))
        .json(&json!({"blocking": "wait", "contacts": ["6315552001", "6315551001"]}))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"contacts": [
            {"input": "6315552001", "status": "failed"},
            {"input": "6315551001", "status": "valid", "wa_id": "916315551001"},
        ]}),
        "the cached one is answered"
    );
    assert_eq!(linked.usync_counts(ME).await, before);
    linked.stop().await;
}
