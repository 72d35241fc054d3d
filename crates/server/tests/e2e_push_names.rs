//! Push names arrive on link: the phone's `PUSH_NAME` history sync fills `pushname` of
//! the address-book contacts without any message from them.

mod common;

use common::Linked;
use wasim::DirectoryUser;

const ME: &str = "15551440000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_names_of_the_address_book_arrive_with_the_link() {
    let people = [
        ("15554440001", "Ada Lovelace", "Ada L."),
        ("15554440002", "Grace Hopper", "Amazing Grace"),
    ];
    let users = people
        .iter()
        .map(|(phone, _, push)| DirectoryUser {
            push_name: Some((*push).into()),
            ..DirectoryUser::new(*phone)
        })
        // Known to WhatsApp but not in the address book: its push name is not sent.
        .chain([DirectoryUser {
            push_name: Some("Stranger".into()),
            ..DirectoryUser::new("15554440009")
        }])
        .collect();
    let linked = Linked::start(users).await;
    for (phone, name, _) in people {
        linked
            .add_to_address_book(ME, phone, Some(name), None)
            .await;
    }
    linked.link("default", ME).await;

    let list = linked
        .wait_for("/api/contacts/all?session=default", |v| {
            let a = v.as_array().unwrap();
            people.iter().all(|(phone, name, push)| {
                a.iter().any(|c| {
                    c["id"] == format!("{phone}@c.us")
                        && c["name"] == *name
                        && c["pushname"] == *push
                })
            })
        })
        .await;
    let contacts = list.as_array().unwrap();
    for (phone, name, push) in people {
        let c = contacts
            .iter()
            .find(|c| c["id"] == format!("{phone}@c.us"))
            .unwrap();
        assert_eq!(c["name"], name, "{c}");
        assert_eq!(c["pushname"], push, "{c}");
    }
    assert!(
        contacts.iter().all(|c| c["pushname"] != "Stranger"),
        "{list}"
    );
    linked.stop().await;
}
