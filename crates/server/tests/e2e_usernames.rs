//! WhatsApp usernames end to end against wasim: lookups by username (with and without
//! a PIN, a wrong PIN, an unknown username), the cache in front of them (read from
//! wasim's usync counters), usernames arriving through the address book, and finding a
//! contact by `@username`.

mod common;

use common::{Linked, assert_error_shape};
use serde_json::json;
use wasim::DirectoryUser;

const ME: &str = "15554440000";
const ALICE: &str = "15554440001";
const CAROL: &str = "15554440002";
const DAVE: &str = "15554440003";

fn user(phone: &str, username: &str, pin: Option<&str>) -> DirectoryUser {
    DirectoryUser {
        username: Some(username.into()),
        pin: pin.map(Into::into),
        ..DirectoryUser::new(phone)
    }
}

async fn linked() -> Linked {
    let linked = Linked::start(vec![
        user(ALICE, "alice.b", None),
        user(CAROL, "carol_pin", Some("4321")),
        user(DAVE, "dave.friend", None),
    ])
    .await;
    linked.link("default", ME).await;
    linked
}

/// The LID wasim gave `phone`.
async fn lid_of(linked: &Linked, phone: &str) -> String {
    let users = linked.wasim.users().await;
    let lid = users
        .iter()
        .find(|u| u.phone == phone)
        .and_then(|u| u.lid.clone())
        .expect("wasim assigned a LID");
    format!("{lid}@lid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_are_found_with_and_without_pin_and_cached() {
    let linked = linked().await;
    let alice_lid = lid_of(&linked, ALICE).await;
    let carol_lid = lid_of(&linked, CAROL).await;

    // Without a PIN, with or without the `@`: found by LID; the number stays private.
    let before = linked.usync_counts(ME).await;
    let (status, found) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&username=%40alice.b")
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found,
        json!({"numberExists": true, "chatId": alice_lid, "lid": alice_lid, "username": "alice.b"})
    );
    let after_first = linked.usync_counts(ME).await;
    assert_eq!(after_first.0 - before.0, 1, "one usync query");

    // The second ask (other spelling, same username) is a cache hit: WhatsApp is not asked.
    let (status, again) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&username=Alice.B")
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, found);
    assert_eq!(
        linked.usync_counts(ME).await,
        after_first,
        "served from the cache"
    );

    // With the right PIN.
    let (status, carol) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&username=carol_pin&pin=4321")
        .await;
    assert_eq!(status, 200, "{carol}");
    assert_eq!(carol["numberExists"], true, "{carol}");
    assert_eq!(carol["lid"], carol_lid);
    assert_eq!(carol["chatId"], carol_lid);

    // A wrong PIN, and no PIN at all, find nobody.
    for query in ["username=carol_pin&pin=1111", "username=carol_pin"] {
        let (status, nobody) = linked
            .app
            .get_json(&format!(
                "/api/contacts/check-exists?session=default&{query}"
            ))
            .await;
        assert_eq!(status, 200, "{nobody}");
        assert_eq!(nobody, json!({"numberExists": false}), "{query}");
    }

    // An unknown username.
    let (status, unknown) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&username=nobody.here")
        .await;
    assert_eq!(status, 200, "{unknown}");
    assert_eq!(unknown, json!({"numberExists": false}));

    // Bulk: numbers and usernames together, each answered in order; all cached now
    // except the number.
    let before_bulk = linked.usync_counts(ME).await;
    let (status, bulk) = linked
        .app
        .post_json(
            "/api/default/contacts/check-exists",
            json!({
                "phones": [ALICE],
                "usernames": ["alice.b", {"username": "@carol_pin", "pin": "4321"}, "nobody.here", "x"]
            }),
        )
        .await;
    assert_eq!(status, 200, "{bulk}");
    let bulk = bulk.as_array().unwrap();
    assert_eq!(bulk.len(), 5);
    assert_eq!(bulk[0]["phone"], ALICE);
    assert_eq!(bulk[0]["chatId"], format!("{ALICE}@c.us"));
    assert_eq!(
        bulk[0]["username"], "alice.b",
        "usync's username protocol answers for numbers too"
    );
    assert_eq!(bulk[1]["username"], "alice.b");
    assert_eq!(bulk[1]["chatId"], alice_lid);
    assert_eq!(bulk[2]["username"], "@carol_pin");
    assert_eq!(bulk[2]["numberExists"], true);
    assert_eq!(bulk[3]["numberExists"], false);
    assert_eq!(bulk[4]["error"]["code"], "invalid_username");
    assert_eq!(bulk[4]["error"]["value"], "x");
    let after_bulk = linked.usync_counts(ME).await;
    assert_eq!(
        after_bulk.1 - before_bulk.1,
        1,
        "only the number was asked of WhatsApp"
    );
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_tells_the_number_of_an_address_book_contact_and_arrives_by_app_state() {
    let linked = linked().await;
    let dave_lid = lid_of(&linked, DAVE).await;
    linked
        .add_to_address_book(ME, DAVE, Some("Dave Friend"), Some("Dave"))
        .await;

    // The address book's contact action carries the username: the contact has it.
    let contact = linked
        .wait_for(&format!("/api/default/contacts/{DAVE}"), |c| {
            c["username"] == "dave.friend"
        })
        .await;
    assert_eq!(contact["name"], "Dave Friend");

    // ... and can be found by it.
    let (status, by_username) = linked
        .app
        .get_json("/api/contacts?session=default&contactId=%40dave.friend")
        .await;
    assert_eq!(status, 200, "{by_username}");
    assert_eq!(by_username["id"], format!("{DAVE}@c.us"));
    assert_eq!(by_username["username"], "dave.friend");
    assert_eq!(by_username["lid"], dave_lid);

    // WhatsApp tells the number of a username whose holder is in the address book.
    let (status, found) = linked
        .app
        .get_json("/api/contacts/check-exists?session=default&username=dave.friend")
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["chatId"], format!("{DAVE}@c.us"));
    assert_eq!(found["lid"], dave_lid);

    // A username nobody in the session has.
    let (status, body) = linked
        .app
        .get_json("/api/contacts?session=default&contactId=%40alice.b")
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(assert_error_shape(status, &body), "username_not_found");
    assert_eq!(body["value"], "@alice.b");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_usernames_and_parameter_mixes_are_refused() {
    let linked = linked().await;
    let before = linked.usync_counts(ME).await;
    let cases = [
        ("username=ab", "invalid_username", Some("ab")),
        ("username=www.alice", "invalid_username", Some("www.alice")),
        ("username=al..ice", "invalid_username", Some("al..ice")),
        ("username=alice.com", "invalid_username", Some("alice.com")),
        ("username=12345", "invalid_username", Some("12345")),
        ("username=alice.b&pin=12", "invalid_pin", Some("12")),
        ("username=alice.b&pin=abcd", "invalid_pin", Some("abcd")),
        (
            &format!("phone={ALICE}&username=alice.b") as &str,
            "phone_and_username",
            None,
        ),
        (
            &format!("phone={ALICE}&pin=1234"),
            "pin_without_username",
            None,
        ),
        ("refresh=true", "missing_phone", None),
    ];
    for (query, code, value) in cases {
        let (status, body) = linked
            .app
            .get_json(&format!(
                "/api/contacts/check-exists?session=default&{query}"
            ))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(assert_error_shape(status, &body), code, "{query}");
        if let Some(value) = value {
            assert_eq!(body["value"], value, "{query}");
        }
    }
    let (status, body) = linked
        .app
        .get_json("/api/contacts?session=default&contactId=%40a")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(status, &body), "invalid_username");
    let (status, body) = linked
        .app
        .post_json(
            "/api/default/contacts/check-exists",
            json!({"usernames": []}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(status, &body), "invalid_batch_size");
    assert_eq!(
        linked.usync_counts(ME).await,
        before,
        "nothing was looked up"
    );
    linked.stop().await;
}
