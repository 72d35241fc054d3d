//! Sessions end to end: the real engine links to wasim over a real socket, driven
//! through the HTTP API.

mod common;

use common::{Linked, WAIT, assert_error_shape, eventually};
use serde_json::json;
use wasim::{DirectoryUser, Fault, UserEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_link_me_events_and_restart_without_scan() {
    let linked = Linked::start(vec![
        DirectoryUser::new("15557770001"),
        DirectoryUser::new("15557770002"),
    ])
    .await;

    // Before linking, the QR exists both raw and as a PNG.
    let (status, _) = linked
        .app
        .post_json("/api/sessions", json!({"name": "default"}))
        .await;
    assert_eq!(status, 201);
    linked.wait_status("default", "SCAN_QR_CODE").await;
    let png = linked
        .app
        .client
        .get(linked.app.url("/api/default/auth/qr"))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status().as_u16(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    let (_, qr) = linked.app.get_json("/api/default/auth/qr?format=raw").await;
    let (status, me) = linked.app.get_json("/api/sessions/default/me").await;
    assert_eq!(status, 422, "no me before linking: {me}");

    linked
        .wasim
        .scan_qr(qr["value"].as_str().unwrap(), Some("15551230001"))
        .await
        .unwrap();
    linked.wait_status("default", "WORKING").await;

    let (status, me) = linked.app.get_json("/api/sessions/default/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], "15551230001@c.us");
    assert!(
        me["jid"].as_str().unwrap().starts_with("15551230001:"),
        "{me}"
    );
    assert!(me["lid"].as_str().unwrap().ends_with("@lid"), "{me}");
    let (_, info) = linked.app.get_json("/api/sessions/default").await;
    assert_eq!(info["me"]["id"], "15551230001@c.us");

    // Address-book contacts and push names pushed by the phone land in the store.
    linked
        .add_to_address_book(
            "15551230001",
            "15557770001",
            Some("Alice Book"),
            Some("Alice"),
        )
        .await;
    linked
        .wasim
        .push_event(
            "15557770002",
            UserEvent::PushName {
                push_name: "Bob Push".into(),
            },
        )
        .await
        .unwrap();
    let list = linked
        .wait_for("/api/contacts/all?session=default", |v| {
            let a = v.as_array().unwrap();
            a.iter().any(|c| c["name"] == "Alice Book")
                && a.iter().any(|c| c["pushname"] == "Bob Push")
        })
        .await;
    let alice = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Alice Book")
        .unwrap();
    assert_eq!(alice["id"], "15557770001@c.us");
    assert_eq!(alice["shortName"], "Alice");
    assert_eq!(alice["isMyContact"], true);

    // A restart on the same data dir comes back WORKING without a scan.
    let linked = linked.restart_app().await;
    linked.wait_status("default", "WORKING").await;
    let (_, me) = linked.app.get_json("/api/sessions/default/me").await;
    assert_eq!(me["id"], "15551230001@c.us");
    let (_, list) = linked
        .app
        .get_json("/api/contacts/all?session=default")
        .await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Alice Book"),
        "{list}"
    );
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_code_links_too() {
    let linked = Linked::start(vec![]).await;
    let code = linked.request_code("pc", "+1 555 123 0002").await;
    assert_eq!(code.replace('-', "").len(), 8, "{code}");
    tokio::time::timeout(WAIT, linked.wasim.pair_code("15551230002", &code))
        .await
        .unwrap()
        .unwrap();
    linked.wait_status("pc", "WORKING").await;
    let (_, me) = linked.app.get_json("/api/sessions/pc/me").await;
    assert_eq!(me["id"], "15551230002@c.us");

    let (status, body) = linked
        .app
        .post_json(
            "/api/pc/auth/request-code",
            json!({"phoneNumber": "call me"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_phone");
    // A leading 0 is no country code: refused here, not by WhatsApp (was a 502).
    let (status, body) = linked
        .app
        .post_json(
            "/api/pc/auth/request-code",
            json!({"phoneNumber": "0(0 )-5-1-2-5-6-1-5-5-6-3"}),
        )
        .await;
    assert_eq!(assert_error_shape(status, &body), "invalid_phone");
    // SMS or voice registration is not served: refused, not ignored.
    let (status, body) = linked
        .app
        .post_json(
            "/api/pc/auth/request-code",
            json!({"phoneNumber": "15551230009", "method": "sms"}),
        )
        .await;
    assert_eq!(assert_error_shape(status, &body), "unsupported_method");
    assert_eq!(body["value"], "sms");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_drop_and_reports_logouts() {
    let linked = Linked::start(vec![]).await;
    linked.link("a", "15551230003").await;
    linked.link("b", "15551230004").await;

    // The logins that linking made have reached wasim before the drop.
    let first_login = |account: &'static str| {
        let linked = &linked;
        eventually(account, move || async move {
            let n = linked.logins(account).await;
            (n > 0).then_some(n)
        })
    };
    let logins = first_login("15551230003").await;
    let b_logins = first_login("15551230004").await;
    linked
        .wasim
        .fault(Fault::Drop {
            account: Some("15551230003".into()),
        })
        .await
        .unwrap();
    // The drop took effect: the engine logged in again on its own...
    eventually("a new login of a after the drop", || async {
        (linked.logins("15551230003").await > logins).then_some(())
    })
    .await;
    // ...and the session is WORKING again, on a live connection.
    linked.wait_status("a", "WORKING").await;
    eventually("a's device connected in wasim", || async {
        let accounts = linked.wasim.accounts().await;
        let a = accounts.iter().find(|a| a.phone == "15551230003")?;
        a.devices.iter().any(|d| d.connected).then_some(())
    })
    .await;
    assert_eq!(
        linked.logins("15551230004").await,
        b_logins,
        "the other account was not dropped"
    );
    let (status, _) = linked
        .app
        .get_json("/api/contacts/all?session=a&limit=1")
        .await;
    assert_eq!(status, 200);

    // Logout through the API: not WORKING any more, and says why.
    let (status, body) = linked
        .app
        .post_json("/api/sessions/a/logout", json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let info = linked.wait_status("a", "STOPPED").await;
    assert!(info["failureReason"].is_string(), "{info}");

    // Logout from the phone: the session fails with a reason.
    linked
        .wasim
        .fault(Fault::Logout {
            account: "15551230004".into(),
            device: None,
        })
        .await
        .unwrap();
    let info = linked
        .wait_for("/api/sessions/b", |v| {
            v["status"] != "WORKING" && v["status"] != "STARTING"
        })
        .await;
    assert!(
        info["failureReason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{info}"
    );

    // Contact routes refuse sessions that are not WORKING, as WAHA does.
    let (status, body) = linked.app.get_json("/api/contacts/all?session=a").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["session"], "a");
    assert_eq!(body["status"], "STOPPED");
    assert_eq!(body["expected"], json!(["WORKING"]));
    assert_eq!(body["error"], "Session status is not as expected");
    let (status, _) = linked
        .app
        .get_json("/api/contacts/all?session=nobody")
        .await;
    assert_eq!(status, 404);
    linked.stop().await;
}
