//! Address-book contacts: in the first sync, pushed later via server_sync, and written
//! by the client (save contact).

mod common;

use common::*;
use wasim::{AddressBookContact, DirectoryUser};
use whatsapp_rust::Jid;
use whatsapp_rust::types::events::Event;

fn contact_update(e: &Event) -> Option<(String, Option<String>, Option<String>, bool)> {
    match e {
        Event::ContactUpdate(u) => Some((
            u.jid.user.to_string(),
            u.action.full_name.clone(),
            u.action.lid_jid.clone(),
            u.from_full_sync,
        )),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_book_first_sync_server_sync_and_save_contact() {
    let wasim = start_wasim().await;
    wasim
        .upsert_users(vec![
            DirectoryUser {
                phone: "15550002001".into(),
                lid: Some("900000000002001".into()),
                ..Default::default()
            },
            DirectoryUser::new("15550002002"),
        ])
        .await
        .unwrap();
    let account = "15551230020";
    wasim
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550002001".into(),
                full_name: Some("Bob Builder".into()),
                first_name: Some("Bob".into()),
            },
        )
        .await
        .unwrap();

    // First sync carries the address book.
    let mut c = spawn_client(&wasim, memory_backend()).await;
    let qr = c.qr().await;
    wasim.scan_qr(&qr, Some(account)).await.unwrap();
    let (user, name, lid, _) = c
        .wait_for("ContactUpdate (first sync)", contact_update)
        .await;
    assert_eq!(user, "15550002001");
    assert_eq!(name.as_deref(), Some("Bob Builder"));
    assert_eq!(lid.as_deref(), Some("900000000002001@lid"));
    c.connected().await;

    // Pushed later through server_sync.
    wasim
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550002002".into(),
                full_name: Some("Carol Singer".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();
    let (user, name, _, _) = c
        .wait_for("ContactUpdate (server_sync)", contact_update)
        .await;
    assert_eq!(user, "15550002002");
    assert_eq!(name.as_deref(), Some("Carol Singer"));

    // Renamed by the phone.
    wasim
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550002001".into(),
                full_name: Some("Robert Builder".into()),
                first_name: Some("Robert".into()),
            },
        )
        .await
        .unwrap();
    let (user, name, _, _) = c.wait_for("ContactUpdate (rename)", contact_update).await;
    assert_eq!(
        (user.as_str(), name.as_deref()),
        ("15550002001", Some("Robert Builder"))
    );

    // Written by the client: lands in the account's address book.
    let dave: Jid = "15550002003@s.whatsapp.net".parse().unwrap();
    tokio::time::timeout(
        T,
        c.client.chat_actions().save_contact(
            &dave,
            Some("Dave Diver".into()),
            Some("Dave".into()),
            true,
        ),
    )
    .await
    .expect("no hang")
    .expect("save_contact");
    let accounts = wasim.accounts().await;
    let book = &accounts
        .iter()
        .find(|a| a.phone == account)
        .unwrap()
        .contacts;
    let d = book
        .iter()
        .find(|x| x.phone == "15550002003")
        .expect("saved contact");
    assert_eq!(d.full_name.as_deref(), Some("Dave Diver"));
    assert_eq!(book.len(), 3);

    // And a later phone push still applies on top of the client's patch.
    wasim
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550002003".into(),
                full_name: Some("Dave D.".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();
    let got = c
        .wait_for("ContactUpdate after client write", |e| {
            contact_update(e)
                .filter(|(u, n, _, _)| u == "15550002003" && n.as_deref() == Some("Dave D."))
        })
        .await;
    assert!(!got.3);
    c.stop().await;
    wasim.shutdown().await;
}
