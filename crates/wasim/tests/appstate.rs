//! Address-book contacts: in the first sync, pushed later via server_sync, and written
//! by the client (save contact).

mod common;

use common::*;
use wasim::{AddressBookContact, DirectoryUser};
use whatsapp_rust::request::InfoQuery;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::appstate::encode::encode_record;
use whatsapp_rust::wacore::appstate::hash::generate_patch_mac;
use whatsapp_rust::wacore::appstate::keys::expand_app_state_keys;
use whatsapp_rust::wacore_binary::NodeContent;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Jid, NodeBuilder, buffa, buffa::Message};

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

/// Sends one app-state patch the way whatsapp-rust does; returns the `<collection>`
/// verdict: `None` when accepted, `Some(code)` for `<collection type="error">`.
async fn send_patch(c: &TestClient, name: &str, base: u64, patch: &wa::SyncdPatch) -> Option<u16> {
    let collection = NodeBuilder::new("collection")
        .attr("name", name)
        .attr("version", base.to_string())
        .attr("return_snapshot", "false")
        .children([NodeBuilder::new("patch")
            .bytes(patch.encode_to_vec())
            .build()])
        .build();
    let sync = NodeBuilder::new("sync").children([collection]).build();
    let server: Jid = "s.whatsapp.net".parse().unwrap();
    let resp = tokio::time::timeout(
        T,
        c.client.send_iq(InfoQuery::set(
            "w:sync:app:state",
            server,
            Some(NodeContent::Nodes(vec![sync])),
        )),
    )
    .await
    .expect("an answer")
    .expect("the IQ itself succeeds; the verdict is per collection");
    let resp = resp.get();
    let col = resp
        .get_optional_child_by_tag(&["sync", "collection"])
        .expect("a collection verdict");
    if col.attrs().optional_string("type").as_deref() != Some("error") {
        return None;
    }
    let err = col.get_optional_child("error").expect("an <error>");
    let code = err.attrs().optional_string("code").unwrap_or_default();
    Some(code.parse().expect("numeric code"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_patches_are_verified_and_a_corrupted_one_is_refused() {
    let wasim = start_wasim().await;
    let account = "15551230021";
    wasim
        .add_contact(
            account,
            AddressBookContact {
                phone: "15550002101".into(),
                full_name: Some("Already There".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();
    let mut c = linked_client(&wasim, account).await;

    // A patch built like a companion builds one (wacore's build_patch: no version, the
    // server numbers it) on the collection as the client holds it after its first sync.
    let name = "critical_unblock_low";
    let base = c.backend.get_version(name).await.unwrap();
    assert_eq!(base.version, 1, "the client synced the first contact");
    let (key_id, key_data) = wasim.app_state_key(account).await.unwrap();
    let keys = expand_app_state_keys(&key_data);
    let value = wa::SyncActionValue {
        timestamp: Some(1_700_000_000_000),
        contact_action: buffa::MessageField::some(wa::sync_action_value::ContactAction {
            full_name: Some("Eve Crafted".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let index = serde_json::to_vec(&["contact", "15550002102@s.whatsapp.net"]).unwrap();
    let (mutation, _) = encode_record(
        wa::syncd_mutation::SyncdOperation::SET,
        &index,
        &value,
        &keys,
        &key_id,
        &[7u8; 16],
        2,
    );
    let mut state = base.clone();
    let (_, res) = state.update_hash(std::slice::from_ref(&mutation), |_, _| Ok(None));
    res.unwrap();
    state.version = base.version + 1;
    let mut patch = wa::SyncdPatch {
        mutations: vec![mutation],
        key_id: buffa::MessageField::some(wa::KeyId {
            id: Some(key_id.clone()),
        }),
        snapshot_mac: Some(state.generate_snapshot_mac(name, &keys.snapshot_mac)),
        ..Default::default()
    };
    patch.patch_mac = Some(generate_patch_mac(
        &patch,
        name,
        &keys.patch_mac,
        state.version,
    ));

    // Corrupted: one byte of the encrypted value flipped (its value MAC no longer holds).
    let mut bad = patch.clone();
    let blob = bad.mutations[0]
        .record
        .as_option_mut()
        .unwrap()
        .value
        .as_option_mut()
        .unwrap()
        .blob
        .as_mut()
        .unwrap();
    blob[20] ^= 0x01;
    assert_eq!(send_patch(&c, name, base.version, &bad).await, Some(400));
    // A patch MAC that does not match.
    let mut bad = patch.clone();
    bad.patch_mac.as_mut().unwrap()[0] ^= 0x01;
    assert_eq!(send_patch(&c, name, base.version, &bad).await, Some(400));
    let book = |accounts: Vec<wasim::AccountInfo>| {
        accounts
            .into_iter()
            .find(|a| a.phone == account)
            .unwrap()
            .contacts
    };
    assert!(
        book(wasim.accounts().await)
            .iter()
            .all(|x| x.phone != "15550002102"),
        "nothing of a refused patch lands"
    );

    // The same patch intact is accepted: the refusals were about the corruption.
    assert_eq!(send_patch(&c, name, base.version, &patch).await, None);
    let saved = book(wasim.accounts().await);
    assert!(
        saved
            .iter()
            .any(|x| x.phone == "15550002102" && x.full_name.as_deref() == Some("Eve Crafted")),
        "{saved:?}"
    );
    c.stop().await;
    wasim.shutdown().await;
}
