//! The WAHA contacts and LID routes end to end, against wasim as WhatsApp.

mod common;

use common::{Linked, assert_error_shape};
use serde_json::json;
use wasim::DirectoryUser;

const ME: &str = "15551110000";

fn user(phone: &str) -> DirectoryUser {
    DirectoryUser::new(phone)
}

async fn linked_with(users: Vec<DirectoryUser>) -> Linked {
    let linked = Linked::start(users).await;
    linked.link("default", ME).await;
    linked
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_book_is_listed_paged_and_sorted() {
    let names = [
        ("15552220003", "carol"),
        ("15552220001", "Dave"),
        ("15552220002", "alice"),
        ("15552220004", "Bob"),
    ];
    let linked = linked_with(names.iter().map(|(p, _)| user(p)).collect()).await;
    for (phone, name) in names {
        linked
            .add_to_address_book(ME, phone, Some(name), None)
            .await;
    }
    let all = linked
        .wait_for("/api/contacts/all?session=default", |v| {
            names
                .iter()
                .all(|(_, n)| v.as_array().unwrap().iter().any(|c| c["name"] == *n))
        })
        .await;
    let all_ids = ids(&all);
    let mut sorted = all_ids.clone();
    sorted.sort();
    assert_eq!(all_ids, sorted, "default order is by id");

    let (status, page) = linked
        .app
        .get_json("/api/contacts/all?session=default&sortBy=name&limit=2&offset=0")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ids(&page),
        ["15552220002@c.us", "15552220004@c.us"],
        "alice, Bob"
    );
    let (_, page) = linked
        .app
        .get_json("/api/contacts/all?session=default&sortBy=name&sortOrder=desc&limit=2&offset=1")
        .await;
    let names_desc: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        names_desc,
        [json!("carol"), json!("Bob")],
        "desc skips Dave"
    );

    // One contact, by any form of its id.
    for form in [
        "15552220002@c.us",
        "15552220002",
        "%2B1%20555%20222%200002",
        "15552220002@s.whatsapp.net",
    ] {
        let (status, c) = linked
            .app
            .get_json(&format!("/api/contacts?session=default&contactId={form}"))
            .await;
        assert_eq!(status, 200, "{form}: {c}");
        assert_eq!(c["name"], "alice");
    }
    let (status, c) = linked
        .app
        .get_json("/api/default/contacts/15552220001@c.us")
        .await;
    assert_eq!(status, 200);
    assert_eq!(c["name"], "Dave");

    // Bad input is 400 with the value; unknown contact 404.
    let (status, body) = linked
        .app
        .get_json("/api/contacts/all?session=default&sortBy=age")
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_sort_by");
    assert_eq!(body["value"], "age");
    let (status, body) = linked
        .app
        .get_json("/api/contacts/all?session=default&limit=100000")
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "invalid_limit");
    let (status, body) = linked
        .app
        .get_json("/api/contacts?session=default&contactId=12345-678@g.us")
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "group_not_allowed");
    let (status, body) = linked
        .app
        .get_json("/api/contacts?session=default&contactId=15559990000")
        .await;
    assert_eq!(status, 404);
    assert_eq!(assert_error_shape(404, &body), "contact_not_found");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exists_answers_whatsapps_canonical_id_and_feeds_lids() {
    let mut br = user("5511987654321");
    br.lid = Some("200000000000001".into());
    let linked = linked_with(vec![br, user("15553330001")]).await;

    // Asked without the 9th digit, WhatsApp's canonical id comes back.
    let (status, body) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&phone=551187654321")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["numberExists"], true);
    assert_eq!(body["chatId"], "5511987654321@c.us");
    assert_eq!(body["lid"], "200000000000001@lid");

    let (_, body) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&phone=%2B1%20555%20333%200001")
        .await;
    assert_eq!(body["numberExists"], true);
    assert_eq!(body["chatId"], "15553330001@c.us");

    let (_, body) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&phone=15553339999")
        .await;
    assert_eq!(body, json!({"numberExists": false}));

    let (status, body) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&phone=call-me")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["value"], "call-me");

    // The mapping learned by the check answers LID lookups both ways.
    let (status, m) = linked
        .app
        .get_json("/api/default/lids/pn/5511987654321")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        m,
        json!({"lid": "200000000000001@lid", "pn": "5511987654321@c.us"})
    );
    for form in ["200000000000001", "200000000000001@lid"] {
        let (_, m) = linked
            .app
            .get_json(&format!("/api/default/lids/{form}"))
            .await;
        assert_eq!(m["pn"], "5511987654321@c.us", "{form}");
    }
    let (_, count) = linked.app.get_json("/api/default/lids/count").await;
    assert!(count["count"].as_u64().unwrap() >= 2, "{count}");
    let (_, list) = linked.app.get_json("/api/default/lids?limit=100").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|m| m["lid"] == "200000000000001@lid")
    );

    // Unknown mappings are null, not 404; a non-LID is 422.
    let (status, m) = linked
        .app
        .get_json("/api/default/lids/999999999999999")
        .await;
    assert_eq!(status, 200);
    assert_eq!(m["pn"], serde_json::Value::Null);
    let (status, body) = linked.app.get_json("/api/default/lids/not-a-lid").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(assert_error_shape(422, &body), "invalid_lid");

    let (status, batch) = linked
        .app
        .post_json(
            "/api/default/lids/pn",
            json!({"phoneNumbers": ["5511987654321", "15550001111"]}),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch[0]["lid"], "200000000000001@lid");
    assert_eq!(batch[1], json!({"lid": null, "pn": "15550001111@c.us"}));
    let (status, _) = linked
        .app
        .post_json("/api/default/lids/pn", json!({"phoneNumbers": []}))
        .await;
    assert_eq!(status, 400);
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn about_and_pictures_with_privacy() {
    let mut open = user("15554440001");
    open.about = Some("Hey there".into());
    open.picture_id = Some("777".into());
    open.picture_url = Some("https://pps.example/777.jpg".into());
    let mut hidden = user("15554440002");
    hidden.about = Some("secret".into());
    hidden.about_hidden = Some(true);
    hidden.picture_id = Some("888".into());
    hidden.picture_url = Some("https://pps.example/888.jpg".into());
    hidden.picture_hidden = Some(true);
    let bare = user("15554440003");
    let linked = linked_with(vec![open, hidden, bare]).await;

    let q =
        |route: &str, who: &str| format!("/api/contacts/{route}?session=default&contactId={who}");
    let (status, body) = linked.app.get_json(&q("about", "15554440001")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"about": "Hey there"}));
    let (_, body) = linked.app.get_json(&q("about", "15554440002@c.us")).await;
    assert_eq!(body, json!({"about": null}));

    let (status, body) = linked
        .app
        .get_json(&q("profile-picture", "15554440001"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["profilePictureURL"], "https://pps.example/777.jpg");
    let (_, body) = linked
        .app
        .get_json(&q("profile-picture", "15554440002"))
        .await;
    assert_eq!(
        body,
        json!({"profilePictureURL": null}),
        "hidden is null, not an error"
    );
    let (_, body) = linked
        .app
        .get_json(&q("profile-picture", "15554440003"))
        .await;
    assert_eq!(body, json!({"profilePictureURL": null}), "none is null");

    // Cached: a second read does not ask WhatsApp again; refresh=true does.
    let before = picture_iqs(&linked).await;
    linked
        .app
        .get_json(&q("profile-picture", "15554440001"))
        .await;
    assert_eq!(picture_iqs(&linked).await, before, "served from the cache");
    linked
        .app
        .get_json(&format!(
            "{}&refresh=true",
            q("profile-picture", "15554440001")
        ))
        .await;
    assert_eq!(
        picture_iqs(&linked).await,
        before + 1,
        "refresh asks WhatsApp"
    );
    linked.stop().await;
}

async fn picture_iqs(linked: &Linked) -> u64 {
    let stats = serde_json::to_value(linked.wasim.stats().await).unwrap();
    stats["accounts"][ME]["iq"]["w:profile:picture"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_list_unblock_and_save_contact() {
    let linked = linked_with(vec![user("15556660001"), user("15556660002")]).await;
    let (status, body) = linked
        .app
        .post_json(
            "/api/contacts/block",
            json!({"contactId": "15556660001@c.us", "session": "default"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let blocked = linked
        .wait_for("/api/default/contacts/blocked", |v| {
            !v.as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(
        blocked.as_array().unwrap().len(),
        1,
        "one entry per person: {blocked}"
    );
    assert_eq!(blocked[0]["id"], "15556660001@c.us", "{blocked}");
    assert!(
        blocked[0]["lid"].as_str().unwrap().ends_with("@lid"),
        "{blocked}"
    );
    let me = linked.account(ME).await;
    assert_eq!(
        me["blocklist"].as_array().unwrap().len(),
        1,
        "WhatsApp holds the block: {me}"
    );

    // `chatId` is accepted as an alias of contactId.
    let (status, _) = linked
        .app
        .post_json(
            "/api/contacts/unblock",
            json!({"chatId": "15556660001@c.us", "session": "default"}),
        )
        .await;
    assert_eq!(status, 201);
    linked
        .wait_for("/api/default/contacts/blocked", |v| {
            v.as_array().unwrap().is_empty()
        })
        .await;

    // Saving a contact writes the phone's address book and our store.
    let (status, body) = linked
        .app
        .put_json(
            "/api/default/contacts/15556660002@c.us",
            json!({"firstName": "Eve", "lastName": "Saved"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (_, c) = linked
        .app
        .get_json("/api/default/contacts/15556660002")
        .await;
    assert_eq!(c["name"], "Eve Saved");
    assert_eq!(c["shortName"], "Eve");
    let me = linked.account(ME).await;
    assert!(
        me["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["phone"] == "15556660002" && c["fullName"] == "Eve Saved"),
        "the phone has it: {me}"
    );
    let (status, body) = linked
        .app
        .put_json(
            "/api/default/contacts/15556660002",
            json!({"firstName": "", "lastName": " "}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "missing_name");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_change_keeps_the_contact_and_its_history() {
    let linked = linked_with(vec![user("15558880001")]).await;
    linked
        .add_to_address_book(ME, "15558880001", Some("Nina Mover"), Some("Nina"))
        .await;
    linked
        .wait_for("/api/default/contacts/15558880001", |c| {
            c["name"] == "Nina Mover"
        })
        .await;
    // Learn the LID, as WhatsApp's number-change notice names the account by it.
    linked
        .app
        .get_json("/api/contacts/check-exists?session=default&phone=15558880001")
        .await;
    linked
        .wasim
        .push_event(
            "15558880001",
            wasim::UserEvent::NumberChange {
                new_phone: "15558880002".into(),
            },
        )
        .await
        .unwrap();
    let moved = linked
        .wait_for("/api/default/contacts/15558880002", |c| {
            c["name"] == "Nina Mover"
        })
        .await;
    assert_eq!(moved["id"], "15558880002@c.us");
    assert_eq!(
        moved["previousNumbers"][0]["id"], "15558880001@c.us",
        "{moved}"
    );
    let (_, m) = linked
        .app
        .get_json("/api/default/lids/pn/15558880002")
        .await;
    assert_eq!(m["lid"], moved["lid"], "the LID stays with the account");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_works_without_a_lookup_first() {
    let linked = linked_with(vec![user("15557770001"), user("15557770002")]).await;
    linked
        .add_to_address_book(ME, "15557770001", Some("In Book"), None)
        .await;
    let all = linked
        .wait_for("/api/contacts/all?session=default", |v| {
            v.as_array().unwrap().iter().any(|c| c["name"] == "In Book")
        })
        .await;
    let listed = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "In Book")
        .unwrap();
    assert_eq!(listed["isWAContact"], true, "WAHA's spelling: {listed}");
    assert!(listed.get("isWaContact").is_none(), "{listed}");

    // In the address book, and a stranger nobody looked up: both block at once.
    for id in ["15557770001@c.us", "15557770002"] {
        let (status, body) = linked
            .app
            .post_json("/api/contacts/block", json!({"contactId": id}))
            .await;
        assert_eq!(status, 201, "{id}: {body}");
    }
    let me = linked.account(ME).await;
    assert_eq!(
        me["blocklist"].as_array().unwrap().len(),
        2,
        "WhatsApp holds both blocks: {me}"
    );
    let blocked = linked
        .wait_for("/api/default/contacts/blocked", |v| {
            v.as_array().unwrap().len() == 2
        })
        .await;
    let ids: Vec<&str> = blocked
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"15557770001@c.us") && ids.contains(&"15557770002@c.us"),
        "{blocked}"
    );
    let (status, body) = linked
        .app
        .post_json("/api/contacts/unblock", json!({"contactId": "15557770002"}))
        .await;
    assert_eq!(status, 201, "{body}");
    linked.stop().await;
}

/// A block made through one linked device reaches the account's other devices:
/// a second session on the same account sees it in its blocklist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_reaches_the_other_session_of_the_account() {
    let linked = linked_with(vec![user("15558880001")]).await;
    linked.link("second", ME).await;
    let (status, body) = linked
        .app
        .post_json(
            "/api/contacts/block",
            json!({"contactId": "15558880001", "session": "default"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let blocked = linked
        .wait_for("/api/second/contacts/blocked", |v| {
            !v.as_array().unwrap().is_empty()
        })
        .await;
    assert!(
        blocked[0]["lid"].as_str().unwrap().ends_with("@lid"),
        "{blocked}"
    );
    let (status, _) = linked
        .app
        .post_json(
            "/api/contacts/unblock",
            json!({"contactId": "15558880001", "session": "default"}),
        )
        .await;
    assert_eq!(status, 201);
    linked
        .wait_for("/api/second/contacts/blocked", |v| {
            v.as_array().unwrap().is_empty()
        })
        .await;
    linked.stop().await;
}

/// An address book that exists before the link arrives as WhatsApp sends it on a
/// first sync: one app-state snapshot, fetched from the media host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_address_book_arrives_as_a_snapshot() {
    let linked = Linked::start(vec![user("15559990001"), user("15559990002")]).await;
    for (phone, name) in [("15559990001", "Snap One"), ("15559990002", "Snap Two")] {
        linked
            .add_to_address_book(ME, phone, Some(name), None)
            .await;
    }
    linked.link("default", ME).await;
    linked
        .wait_for("/api/contacts/all?session=default", |v| {
            let all = v.as_array().unwrap();
            ["Snap One", "Snap Two"]
                .iter()
                .all(|n| all.iter().any(|c| c["name"] == *n))
        })
        .await;
    let stats = linked.wasim.stats().await;
    assert!(
        stats.accounts[ME].snapshots >= 1,
        "the address book came as a snapshot: {:?}",
        stats.accounts[ME]
    );
    linked.stop().await;
}

/// The phone saves contacts back to back: each change reaches the companion as its own
/// `server_sync` notification, some while the fetch for an earlier one is in flight.
/// Every contact arrives, the last included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_address_book_changes_all_arrive() {
    let phones: Vec<String> = (0..30).map(|i| format!("155522230{i:02}")).collect();
    let linked = linked_with(phones.iter().map(|p| user(p)).collect()).await;
    for (i, phone) in phones.iter().enumerate() {
        linked
            .add_to_address_book(ME, phone, Some(&format!("Burst {i}")), None)
            .await;
    }
    linked
        .wait_for("/api/contacts/all?session=default&limit=100", |v| {
            v.as_array().unwrap().len() == phones.len()
                && v.as_array().unwrap().iter().all(|c| c["name"].is_string())
        })
        .await;
    linked.stop().await;
}
