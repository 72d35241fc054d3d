//! `serve --sandbox`: sessions link to the in-process WhatsApp by themselves and the
//! demo directory shows up as contacts. Built only with `--features sandbox`.

#![cfg(feature = "sandbox")]

mod common;

use common::{TestApp, WAIT, json_of};
use serde_json::json;

async fn wait_for(
    app: &TestApp,
    path: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, body) = app.get_json(path).await;
        if code == 200 && check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out on {path}: {code} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A server with `--sandbox` on `data_dir`.
async fn sandbox_app(data_dir: &std::path::Path) -> TestApp {
    TestApp::spawn_in(data_dir, |s| {
        s.whatsapp_url = None;
        s.sandbox = Some(Default::default());
    })
    .await
}

/// Creates session `default`, waits until it is WORKING with the demo directory as
/// contacts; returns the contacts.
async fn link_default(app: &TestApp) -> serde_json::Value {
    let (status, _) = app
        .post_json("/api/sessions", json!({"name": "default"}))
        .await;
    assert_eq!(status, 201);
    wait_for(app, "/api/sessions/default", |v| v["status"] == "WORKING").await;
    // Push names (history sync) may land before the address book: wait for the book.
    wait_for(app, "/api/contacts/all", |v| {
        let all = v.as_array().unwrap();
        all.len() >= 5 && all.iter().all(|c| c["isMyContact"] == true)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_link_by_themselves_and_see_the_demo_directory() {
    let dir = tempfile::tempdir().unwrap();
    let app = sandbox_app(dir.path()).await;
    let list = link_default(&app).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Ada Demo (saved)"),
        "{list}"
    );
    let (_, exists) = app
        .get_json("/api/contacts/check-exists?phone=551187650001")
        .await;
    assert_eq!(exists["chatId"], "5511987650001@c.us", "{exists}");

    // wasim's admin API, behind our key.
    let (status, stats) = app.get_json("/sandbox/admin/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert!(stats["accounts"].is_object());
    let bare = reqwest::Client::new();
    let (status, _) = json_of(
        bare.get(app.url("/sandbox/admin/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_restores_sessions_without_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let app = sandbox_app(dir.path()).await;
    let mut before = link_default(&app).await;
    // A block just before the stop: the sandbox's WhatsApp keeps it across the restart,
    // as WhatsApp would.
    let (status, body) = app
        .post_json(
            "/api/contacts/block",
            json!({"session": "default", "contactId": "15550100003@c.us"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;

    let app = sandbox_app(dir.path()).await;
    wait_for(&app, "/api/sessions/default", |v| v["status"] == "WORKING").await;
    let (_, accounts) = app.get_json("/sandbox/admin/accounts").await;
    let accounts = accounts["accounts"].as_array().unwrap().clone();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let devices = accounts[0]["devices"].as_array().unwrap();
    assert_eq!(
        devices.len(),
        1,
        "the same linked device, no second scan: {devices:?}"
    );
    assert_eq!(
        accounts[0]["blocklist"].as_array().map(Vec::len),
        Some(1),
        "the block made just before the stop: {accounts:?}"
    );
    wait_for(&app, "/api/default/contacts/blocked", |v| {
        v.as_array()
            .is_some_and(|b| b.len() == 1 && b[0]["id"] == "15550100003@c.us")
    })
    .await;
    let after = wait_for(&app, "/api/contacts/all", |v| {
        v.as_array().unwrap().len() >= 5
    })
    .await;
    for c in before.as_array_mut().unwrap() {
        if c["id"] == "15550100003@c.us" {
            c["isBlocked"] = json!(true);
        }
    }
    assert_eq!(
        after, before,
        "contacts still there, the blocked one blocked"
    );
    app.stop().await;
}
