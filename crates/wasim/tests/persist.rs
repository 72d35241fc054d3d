//! With `persist_to`, a restarted wasim knows its accounts, linked devices, directory,
//! address books and keys: a linked client logs in again without a scan, and what the
//! phone sends afterwards (app-state patches, end-to-end encrypted messages) still works.

mod common;

use common::*;
use wasim::{AddressBookContact, DirectoryUser, UserEvent};
use whatsapp_rust::types::events::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_wasim_keeps_linked_devices_and_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox").join("wasim.json");
    let account = "15551230080";

    let first = start_wasim().await;
    assert!(!first.persist_to(&file).unwrap(), "nothing saved yet");
    first
        .upsert_users(vec![DirectoryUser {
            push_name: Some("Frank".into()),
            ..DirectoryUser::new("15550008001")
        }])
        .await
        .unwrap();
    first
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550008001".into(),
                full_name: Some("Frank Saved".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();
    let backend = memory_backend();
    let mut c = spawn_client(&first, backend.clone()).await;
    let qr = c.qr().await;
    first.scan_qr(&qr, Some(account)).await.unwrap();
    c.connected().await;
    c.stop().await;
    wait_offline(&first, account).await;
    first.shutdown().await;

    let second = start_wasim().await;
    assert!(second.persist_to(&file).unwrap(), "the saved state loads");
    let accounts = second.accounts().await;
    let acc = accounts.iter().find(|a| a.phone == account).unwrap();
    assert_eq!(acc.devices.len(), 1);
    assert_eq!(acc.contacts.len(), 1);

    // The same client logs in without a QR code.
    let mut c = spawn_client(&second, backend).await;
    c.wait_for("Connected without a scan", |e| match e {
        Event::Connected(_) => Some(()),
        Event::PairingQrCode(_) => panic!("asked to scan again"),
        _ => None,
    })
    .await;
    // App-state continues from the saved collection.
    second
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550008002".into(),
                full_name: Some("After Restart".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();
    c.wait_for("the contact pushed after the restart", |e| match e {
        Event::ContactUpdate(u) if u.jid.user == "15550008002" => Some(()),
        _ => None,
    })
    .await;
    // The phone of a directory user still reaches it end to end.
    second
        .push_event(
            "15550008001",
            UserEvent::PushName {
                push_name: "Frank Again".into(),
            },
        )
        .await
        .unwrap();
    c.wait_for("a message after the restart", |e| match e {
        Event::Messages(b) => b
            .messages
            .iter()
            .any(|m| m.info.push_name == "Frank Again")
            .then_some(()),
        _ => None,
    })
    .await;
    c.stop().await;
    second.shutdown().await;
}
