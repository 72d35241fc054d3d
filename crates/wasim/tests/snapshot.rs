//! A first sync asks for snapshots (`return_snapshot="true"`); wasim answers with one, as
//! WhatsApp does, and the client verifies (LTHash, snapshot MAC, value MACs) and applies
//! the whole address book from it.

mod common;

use common::*;
use std::collections::HashSet;
use wasim::{AddressBookContact, WasimConfig};
use whatsapp_rust::types::events::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_address_book_arrives_as_one_snapshot() {
    let wasim = start_wasim_with(WasimConfig {
        snapshots: true,
        ..Default::default()
    })
    .await;
    let account = "15551230070";
    let n = 500;
    for i in 0..n {
        wasim
            .add_contact(
                account,
                AddressBookContact {
                    phone: format!("1555700{i:04}"),
                    full_name: Some(format!("Person {i}")),
                    first_name: None,
                },
            )
            .await
            .unwrap();
    }

    let mut c = spawn_media_client(&wasim, memory_backend()).await;
    let qr = c.qr().await;
    wasim.scan_qr(&qr, Some(account)).await.unwrap();
    let mut seen = HashSet::new();
    while seen.len() < n {
        let (user, full_sync) = c
            .wait_for("the address book", |e| match e {
                Event::ContactUpdate(u) => Some((u.jid.user.to_string(), u.from_full_sync)),
                _ => None,
            })
            .await;
        assert!(full_sync, "from the first (full) sync");
        seen.insert(user);
    }
    let stats = wasim.stats().await;
    let acc = &stats.accounts[account];
    assert!(
        acc.snapshots >= 1,
        "the address book came as a snapshot: {acc:?}"
    );
    let state = c.backend.get_version("critical_unblock_low").await.unwrap();
    assert_eq!(
        state.version, n as u64,
        "the client is at the snapshot's version"
    );
    c.stop().await;
    wasim.shutdown().await;
}
