//! Webhooks, identity changes and number changes end to end: wasim as WhatsApp, the
//! real server, and a small axum receiver on port 0 standing in for the user's URL.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Linked, WAIT, assert_error_shape, eventually};
use serde_json::{Value, json};
use tokio::sync::Notify;
use wasim::{DirectoryUser, UserEvent};

const ME: &str = "15551110000";
const HMAC_KEY: &str = "hook-secret";

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    json: Value,
    /// What the receiver answered.
    accepted: bool,
}

/// How the receiver answers: 200, 503, or hold the request until released.
#[derive(Default)]
struct ReceiverState {
    got: Mutex<Vec<Received>>,
    down: Mutex<bool>,
    hold: Mutex<bool>,
    held: Mutex<u32>,
    release: Notify,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    fn set_down(&self, down: bool) {
        *self.state.down.lock().unwrap() = down;
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Accepted deliveries of `event`.
    fn accepted(&self, event: &str) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| r.accepted && r.json["event"] == event)
            .collect()
    }

    /// Waits until `count` deliveries of `event` were accepted.
    async fn wait_accepted(&self, event: &str, count: usize) -> Vec<Received> {
        eventually(&format!("{count} accepted {event}"), || async {
            let got = self.accepted(event);
            (got.len() >= count).then_some(got)
        })
        .await
    }
}

async fn receive(
    State(s): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if *s.hold.lock().unwrap() {
        *s.held.lock().unwrap() += 1;
        s.release.notified().await;
    }
    let accepted = !*s.down.lock().unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.got.lock().unwrap().push(Received {
        headers,
        body,
        json,
        accepted,
    });
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

fn hook(url: &str, events: &[&str], retries: Value) -> Value {
    json!({ "url": url, "events": events, "hmac": { "key": HMAC_KEY }, "retries": retries })
}

async fn set_webhooks(linked: &Linked, session: &str, hooks: Value) {
    let (status, body) = linked
        .app
        .put_json(
            &format!("/api/sessions/{session}"),
            json!({ "config": { "webhooks": hooks } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_change_is_signed_stored_and_acknowledged() {
    let alice = "15553330001";
    let linked = Linked::start(vec![DirectoryUser::new(alice)]).await;
    linked.link("default", ME).await;
    let receiver = Receiver::start().await;

    // Unknown event names are refused, not stored and ignored.
    let (status, body) = linked
        .app
        .put_json(
            "/api/sessions/default",
            json!({"config": {"webhooks": [{"url": receiver.url, "events": ["message.any"]}]}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(status, &body), "unknown_webhook_event");
    assert_eq!(body["value"], "message.any");

    set_webhooks(
        &linked,
        "default",
        json!([hook(
            &receiver.url,
            &["contact.identity_changed"],
            json!(null)
        )]),
    )
    .await;
    let (status, body) = linked
        .app
        .get_json("/api/default/contacts/15553330001/identity")
        .await;
    assert_eq!(status, 404, "no change seen yet: {body}");
    assert_eq!(assert_error_shape(status, &body), "identity_not_found");
    assert_eq!(body["value"], "15553330001", "the contact asked for");

    linked
        .wasim
        .push_event(alice, UserEvent::Identity)
        .await
        .unwrap();
    let got = receiver.wait_accepted("contact.identity_changed", 1).await;
    let delivery = &got[0];
    // Signed: hex HMAC-SHA512 of the exact body.
    assert_eq!(header(delivery, "x-webhook-hmac-algorithm"), "sha512");
    assert_eq!(
        header(delivery, "x-webhook-hmac"),
        wacontacts::webhooks::sign(HMAC_KEY, &delivery.body)
    );
    let envelope = &delivery.json;
    assert!(
        envelope["id"].as_str().unwrap().starts_with("evt_"),
        "{envelope}"
    );
    assert_eq!(header(delivery, "x-webhook-request-id"), envelope["id"]);
    assert_eq!(envelope["session"], "default");
    assert_eq!(envelope["me"]["id"], format!("{ME}@c.us"));
    assert_eq!(envelope["engine"], "WACONTACTS");
    assert!(envelope["environment"]["version"].is_string(), "{envelope}");
    assert!(envelope["timestamp"].as_i64().unwrap() > 0);
    // The hash is of the key WhatsApp now serves for alice.
    let key = linked.wasim.identity_key(alice).await.unwrap();
    let hash = wacontacts_core::identity::identity_hash(&key);
    assert_eq!(envelope["payload"]["id"], format!("{alice}@c.us"));
    assert_eq!(envelope["payload"]["hash"], hash, "{envelope}");

    let path = "/api/default/contacts/15553330001/identity";
    let (status, identity) = linked.app.get_json(path).await;
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["hash"], hash);
    assert_eq!(identity["acknowledged"], false);
    assert!(identity["created_timestamp"].as_i64().unwrap() > 0);

    let (status, body) = linked
        .app
        .put_json(path, json!({"hash": "AAAAAAAAAAA="}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(status, &body), "identity_hash_mismatch");
    assert_eq!(body["value"], "AAAAAAAAAAA=");
    let (_, still) = linked.app.get_json(path).await;
    assert_eq!(still["acknowledged"], false);

    let (status, acked) = linked.app.put_json(path, json!({"hash": hash})).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledged"], true);
    let (_, now) = linked.app.get_json(path).await;
    assert_eq!(now["acknowledged"], true);
    linked.stop().await;
}

/// On-Prem's identity routes read and acknowledge the same record, in its shapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onprem_identity_routes_read_and_acknowledge_the_change() {
    let alice = "15553330002";
    let linked = Linked::start(vec![DirectoryUser::new(alice)]).await;
    linked.link("default", ME).await;
    let path = format!("/v1/contacts/{alice}/identity");
    let (status, body) = linked.app.get_json(&path).await;
    assert_eq!(status, 404, "no change seen yet: {body}");
    assert_eq!(body["errors"][0]["code"], 1006, "{body}");

    linked
        .wasim
        .push_event(alice, UserEvent::Identity)
        .await
        .unwrap();
    let key = linked.wasim.identity_key(alice).await.unwrap();
    let hash = wacontacts_core::identity::identity_hash(&key);
    let identity = eventually("the identity change on /v1", || {
        let (linked, path) = (&linked, &path);
        async move {
            let (status, body) = linked.app.get_json(path).await;
            (status == 200).then_some(body)
        }
    })
    .await;
    assert_eq!(identity["contacts"]["hash"], hash, "{identity}");
    assert_eq!(identity["contacts"]["acknowledged"], false);
    assert!(identity["contacts"]["created_timestamp"].as_i64().unwrap() > 0);

    let (status, body) = linked
        .app
        .put_json(&path, json!({"hash": "AAAAAAAAAAA="}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], 1009, "{body}");
    let (status, body) = linked.app.put_json(&path, json!({"hash": hash})).await;
    assert_eq!((status, body), (200, json!({})));
    let (_, now) = linked.app.get_json(&path).await;
    assert_eq!(now["contacts"]["acknowledged"], true, "{now}");
    let (_, waha) = linked
        .app
        .get_json(&format!("/api/default/contacts/{alice}/identity"))
        .await;
    assert_eq!(waha["acknowledged"], true, "{waha}");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_change_answers_under_both_numbers() {
    let (old, new) = ("15558890001", "15558890002");
    let linked = Linked::start(vec![DirectoryUser::new(old)]).await;
    linked.link("default", ME).await;
    let receiver = Receiver::start().await;
    set_webhooks(
        &linked,
        "default",
        json!([hook(
            &receiver.url,
            &["contact.number_changed"],
            json!(null)
        )]),
    )
    .await;
    // Learn the LID, as WhatsApp's number-change notice names the account by it.
    linked
        .app
        .get_json(&format!(
            "/api/contacts/check-exists?session=default&phone={old}"
        ))
        .await;
    linked
        .wasim
        .push_event(
            old,
            UserEvent::NumberChange {
                new_phone: new.into(),
            },
        )
        .await
        .unwrap();
    let moved = linked
        .wait_for(&format!("/api/default/contacts/{new}"), |c| {
            c["previousNumbers"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .await;
    assert_eq!(moved["id"], format!("{new}@c.us"));
    assert_eq!(
        moved["previousNumbers"][0]["id"],
        format!("{old}@c.us"),
        "{moved}"
    );
    // The old number still finds the person, now under the new number.
    let (status, by_old) = linked
        .app
        .get_json(&format!("/api/default/contacts/{old}"))
        .await;
    assert_eq!(status, 200, "{by_old}");
    assert_eq!(by_old["id"], format!("{new}@c.us"));
    assert_eq!(by_old["previousNumbers"], moved["previousNumbers"]);
    let got = receiver.wait_accepted("contact.number_changed", 1).await;
    let payload = &got[0].json["payload"];
    assert_eq!(payload["id"], format!("{new}@c.us"));
    assert_eq!(payload["previousId"], format!("{old}@c.us"));
    assert_eq!(payload["lid"], moved["lid"]);
    linked.stop().await;
}

/// The `about` texts of accepted `contact.update` deliveries, in arrival order.
fn abouts(r: &Receiver) -> Vec<String> {
    r.accepted("contact.update")
        .iter()
        .filter_map(|d| d.json["payload"]["about"].as_str().map(str::to_owned))
        .collect()
}

async fn outbox_pending(linked: &Linked) -> Option<u64> {
    let text = linked.app.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("wacontacts_webhook_outbox{state=\"pending\"} "))
        .and_then(|v| v.trim().parse().ok())
}

/// Facts pushed in a burst each enter the outbox: none is lost on the way. Their
/// order is not asserted: whatsapp-rust 0.7 handles each `<notification>` on its own
/// task (`Client::processes_inline`), so two WhatsApp sends microseconds apart can
/// reach us swapped (seen here: "burst 2" before "burst 1"). The outbox keeps the
/// order in which facts were stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_facts_all_enter_the_outbox() {
    let alice = "15554440002";
    let linked = Linked::start(vec![DirectoryUser::new(alice)]).await;
    linked.link("default", ME).await;
    let receiver = Receiver::start().await;
    set_webhooks(
        &linked,
        "default",
        json!([hook(&receiver.url, &["contact.update"], json!(null))]),
    )
    .await;
    for n in 1..=5 {
        let about = UserEvent::About {
            about: format!("burst {n}"),
        };
        linked.wasim.push_event(alice, about).await.unwrap();
    }
    let got = receiver.wait_accepted("contact.update", 5).await;
    let mut abouts: Vec<&str> = got
        .iter()
        .filter_map(|r| r.json["payload"]["about"].as_str())
        .collect();
    abouts.sort();
    assert_eq!(
        abouts,
        ["burst 1", "burst 2", "burst 3", "burst 4", "burst 5"],
        "every fact"
    );
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_across_a_restart_still_gets_everything_in_order() {
    let alice = "15554440001";
    let linked = Linked::start(vec![DirectoryUser::new(alice)]).await;
    linked.link("default", ME).await;
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    set_webhooks(
        &linked,
        "default",
        json!([hook(
            &receiver.url,
            &["contact.update"],
            json!({"delaySeconds": 0.2, "attempts": 100, "policy": "constant"})
        )]),
    )
    .await;
    for n in 1..=3 {
        linked
            .wasim
            .push_event(
                alice,
                UserEvent::About {
                    about: format!("about {n}"),
                },
            )
            .await
            .unwrap();
        // One at a time: each fact stored (and its event queued in the same
        // transaction) before the next. (The outbox's pending count is no such sign: it
        // also counts events no target wants, queued behind the refused one; and
        // whatsapp-rust may handle two notifications sent back to back in either order.)
        let about = format!("about {n}");
        linked
            .wait_for(
                &format!("/api/contacts?session=default&contactId={alice}"),
                |c| c["about"] == about,
            )
            .await;
    }
    // Refused at least twice: a repeat carries the same id.
    let refused = eventually("two refused deliveries", || async {
        let got: Vec<Received> = receiver.got().into_iter().filter(|r| !r.accepted).collect();
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(
        refused[0].json["id"], refused[1].json["id"],
        "same event, same id"
    );
    let tried: Vec<&Value> = refused.iter().map(|r| &r.json["payload"]).collect();
    assert_eq!(
        refused[0].json["payload"]["about"], "about 1",
        "the first event first: {tried:?}"
    );

    // A restart while the receiver is still down: the outbox is on disk.
    let linked = linked.restart_app().await;
    linked.wait_status("default", "WORKING").await;
    receiver.set_down(false);
    let got = receiver.wait_accepted("contact.update", 3).await;
    assert_eq!(
        abouts(&receiver),
        ["about 1", "about 2", "about 3"],
        "every event, in order"
    );
    assert_eq!(
        got[0].json["id"], refused[0].json["id"],
        "the repeat after the restart too"
    );
    eventually("an empty outbox", || async {
        (outbox_pending(&linked).await? == 0).then_some(())
    })
    .await;
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_on_one_session_does_not_delay_another_and_dead_letters_retry() {
    let alice = "15556660001";
    let linked = Linked::start(vec![DirectoryUser::new(alice)]).await;
    linked.link("a", ME).await;
    linked.link("b", "15551110001").await;
    let (slow, fine) = (Receiver::start().await, Receiver::start().await);
    // A's receiver holds every request until released, then refuses it.
    *slow.state.hold.lock().unwrap() = true;
    slow.set_down(true);
    let once = json!({"delaySeconds": 0, "attempts": 1, "policy": "constant"});
    set_webhooks(
        &linked,
        "a",
        json!([hook(&slow.url, &["contact.update"], once.clone())]),
    )
    .await;
    set_webhooks(
        &linked,
        "b",
        json!([hook(&fine.url, &["contact.update"], once)]),
    )
    .await;

    let about = |text: &str| UserEvent::About { about: text.into() };
    linked.wasim.push_event(alice, about("one")).await.unwrap();
    eventually("A's first request held", || async {
        (*slow.state.held.lock().unwrap() >= 1).then_some(())
    })
    .await;
    // While A's receiver holds A's first event, B gets the next one too.
    linked.wasim.push_event(alice, about("two")).await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        fine.wait_accepted("contact.update", 2),
    )
    .await
    .expect("B is not held back by A's receiver");
    assert_eq!(abouts(&fine), ["one", "two"]);
    assert!(slow.got().is_empty(), "A's delivery is still hanging");

    // Released and refused: out of attempts, dead letters (A's second one too).
    *slow.state.hold.lock().unwrap() = false;
    slow.state.release.notify_waiters();
    let failed = linked
        .wait_for("/api/a/webhooks/failed", |v| {
            v.as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let letter = failed
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["payload"]["about"] == "one")
        .unwrap();
    assert_eq!(letter["event"], "contact.update");
    assert_eq!(letter["attempts"], 1);
    assert_eq!(letter["lastError"], "HTTP 503");
    let (_, b_failed) = linked.app.get_json("/api/b/webhooks/failed").await;
    assert_eq!(b_failed, json!([]));

    let (status, body) = linked
        .app
        .post_json("/api/a/webhooks/failed/evt_nope/retry", json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(assert_error_shape(status, &body), "webhook_not_found");

    slow.set_down(false);
    let id = letter["id"].as_str().unwrap();
    let (status, body) = linked
        .app
        .post_json(&format!("/api/a/webhooks/failed/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    let got = tokio::time::timeout(WAIT, slow.wait_accepted("contact.update", 1))
        .await
        .unwrap();
    assert_eq!(got[0].json["id"], id, "the retry carries the same id");
    assert_eq!(got[0].json["payload"]["about"], "one");
    let (_, after) = linked.app.get_json("/api/a/webhooks/failed").await;
    assert_eq!(
        after.as_array().unwrap().len(),
        1,
        "only the retried one left: {after}"
    );
    linked.stop().await;
}

/// The delivery log: every POST, delivered or failed, per receiver, newest first,
/// with the receiver's URL shown without its credentials and query values; paged,
/// with bad paging refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_deliveries_list_delivered_and_failed_posts_without_secrets() {
    let alice = "15556660002";
    let linked = Linked::start(vec![DirectoryUser::new(alice)]).await;
    linked.link("default", ME).await;
    let receiver = Receiver::start().await;
    // A port nobody listens on: bound, then let go.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let address = receiver.url.strip_prefix("http://").unwrap();
    let with_secrets = format!("http://recv:passw0rd@{address}?token=s3cret");
    let once = json!({"delaySeconds": 0, "attempts": 1, "policy": "constant"});
    set_webhooks(
        &linked,
        "default",
        json!([
            hook(&with_secrets, &["contact.update"], once.clone()),
            hook(
                &format!("http://127.0.0.1:{closed}/gone"),
                &["contact.update"],
                once
            ),
        ]),
    )
    .await;
    let (status, body) = linked
        .app
        .get_json("/api/default/webhooks/deliveries")
        .await;
    assert_eq!((status, body), (200, json!([])), "nothing sent yet");

    receiver.set_down(true);
    let about = |text: &str| UserEvent::About { about: text.into() };
    linked.wasim.push_event(alice, about("one")).await.unwrap();
    linked
        .wait_for("/api/default/webhooks/deliveries", |v| {
            v.as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    receiver.set_down(false);
    linked.wasim.push_event(alice, about("two")).await.unwrap();
    let log = linked
        .wait_for("/api/default/webhooks/deliveries", |v| {
            v.as_array().is_some_and(|a| a.len() == 4)
        })
        .await;
    let accepted = receiver.accepted("contact.update");
    assert_eq!(accepted.len(), 1, "{log:#}");
    let (one, two) = (
        receiver.got()[0].json["id"].clone(),
        accepted[0].json["id"].clone(),
    );
    assert_eq!(
        header(&accepted[0], "authorization"),
        "Basic cmVjdjpwYXNzdzByZA==",
        "the receiver got the URL's credentials"
    );

    let shown = format!("{}?token=***", receiver.url);
    let gone = format!("http://127.0.0.1:{closed}/gone");
    let rows: Vec<(Value, &str, bool, Value, Value)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["event"], "contact.update");
            assert_eq!(r["attempts"], 1);
            assert!(r["attemptedAt"].as_i64().unwrap() > 1_700_000_000_000);
            (
                r["id"].clone(),
                r["url"].as_str().unwrap(),
                r["delivered"].as_bool().unwrap(),
                r["status"].clone(),
                r["error"].clone(),
            )
        })
        .collect();
    // Newest first; within one event the receivers in config order.
    assert_eq!(
        rows,
        [
            (
                two.clone(),
                gone.as_str(),
                false,
                Value::Null,
                json!("could not connect")
            ),
            (two.clone(), shown.as_str(), true, json!(200), Value::Null),
            (
                one.clone(),
                gone.as_str(),
                false,
                Value::Null,
                json!("could not connect")
            ),
            (
                one.clone(),
                shown.as_str(),
                false,
                json!(503),
                json!("HTTP 503")
            ),
        ]
    );
    let text = log.to_string();
    assert!(
        !text.contains("passw0rd") && !text.contains("s3cret"),
        "{text}"
    );

    let (status, page) = linked
        .app
        .get_json("/api/default/webhooks/deliveries?limit=2&offset=1")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page, json!(log.as_array().unwrap()[1..3]));

    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("offset=201", "invalid_offset"),
        ("limit=ten", "invalid_query"),
        ("page=2", "invalid_query"),
    ] {
        let (status, body) = linked
            .app
            .get_json(&format!("/api/default/webhooks/deliveries?{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(assert_error_shape(status, &body), code, "{query}");
    }
    let (status, body) = linked.app.get_json("/api/nobody/webhooks/deliveries").await;
    assert_eq!(status, 404, "{body}");
    linked.stop().await;
}
