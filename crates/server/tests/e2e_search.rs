//! The contact listing's `search` parameter end to end (WAHA and Wawp), against wasim.

mod common;

use common::{Linked, assert_error_shape};
use wasim::DirectoryUser;

const ME: &str = "15551110000";

fn ids(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_names_and_numbers_in_pages() {
    let people = [
        ("15552220001", Some("Ada Lovelace"), "ada"),
        ("15552220002", Some("Grace Hopper"), "grace"),
        ("15552220003", None, "Linus 100%"),
        ("5511987650001", Some("Adalberto"), "beto"),
    ];
    let users = people
        .iter()
        .map(|(phone, _, push)| {
            let mut u = DirectoryUser::new(*phone);
            u.push_name = Some((*push).into());
            u
        })
        .collect();
    let linked = Linked::start(users).await;
    for (phone, name, _) in people {
        linked.add_to_address_book(ME, phone, name, None).await;
    }
    linked.link("default", ME).await;
    linked
        .wait_for("/api/contacts/all?session=default", |v| {
            let all = v.as_array().unwrap();
            // Push names arrive with the link's history sync, just after the contacts.
            all.len() == people.len() && all.iter().any(|c| c["pushname"] == "Linus 100%")
        })
        .await;
    let search = |q: &str| {
        let app = &linked.app;
        let path = format!("/api/contacts/all?session=default&sortBy=name&limit=10&search={q}");
        async move { app.get_json(&path).await }
    };

    // A name, any case, in the address-book name or the push name.
    let (status, found) = search("ADA").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(ids(&found), ["15552220001@c.us", "5511987650001@c.us"]);
    let (_, found) = search("linus").await;
    assert_eq!(ids(&found), ["15552220003@c.us"]);
    // `%` is a character, not a wildcard.
    let (_, found) = search("100%25").await;
    assert_eq!(ids(&found), ["15552220003@c.us"]);
    let (_, found) = search("1%25").await;
    assert_eq!(ids(&found), Vec::<String>::new());
    // A number written with punctuation.
    let (_, found) = search("%2B55%2011%2098765").await;
    assert_eq!(ids(&found), ["5511987650001@c.us"]);
    let (_, found) = search("222-000").await;
    assert_eq!(found.as_array().unwrap().len(), 3);
    // Paged and ordered like the listing.
    let (_, page) = linked
        .app
        .get_json("/api/contacts/all?session=default&sortBy=id&sortOrder=desc&limit=2&offset=1&search=1555222")
        .await;
    assert_eq!(ids(&page), ["15552220002@c.us", "15552220001@c.us"]);
    // Wawp's listing is the same handler.
    let (status, wawp) = linked
        .app
        .get_json("/v2/contacts/all?instance_id=default&limit=5&search=grace")
        .await;
    assert_eq!(status, 200, "{wawp}");
    assert_eq!(wawp.as_array().unwrap().len(), 1);

    // Without a page the matches are streamed, in order.
    let (status, all) = linked
        .app
        .get_json("/api/contacts/all?session=default&sortBy=name&search=ada")
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), ["15552220001@c.us", "5511987650001@c.us"]);
    // A blank term filters nothing.
    let (_, all) = linked
        .app
        .get_json("/api/contacts/all?session=default&limit=10&search=%20")
        .await;
    assert_eq!(all.as_array().unwrap().len(), people.len());
    // Too long: 400 with the input.
    let long = "a".repeat(101);
    let (status, body) = linked
        .app
        .get_json(&format!(
            "/api/contacts/all?session=default&limit=5&search={long}"
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(400, &body), "search_too_long");
    assert_eq!(body["value"], long);
    linked.stop().await;
}
