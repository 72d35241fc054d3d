//! Linking a real whatsapp-rust client: QR pairing, the 515 restart, login, and the
//! post-login waits (app-state key share and critical sync) until `Connected`.

mod common;

use common::*;
use std::time::Instant;
use whatsapp_rust::types::events::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_pairing_reaches_connected_and_relogin_needs_no_scan() {
    let wasim = start_wasim().await;
    let backend = memory_backend();
    let mut c = spawn_client(&wasim, backend.clone()).await;
    let qr = c.qr().await;
    let t0 = Instant::now();
    wasim.scan_qr(&qr, Some("15551230001")).await.unwrap();
    c.wait_for("PairSuccess", |e| match e {
        Event::PairSuccess(p) => Some(p.id.user.to_string()),
        _ => None,
    })
    .await;
    c.connected().await;
    let first = t0.elapsed();
    assert!(
        first.as_secs() < 8,
        "Connected took {first:?}: the key share did not arrive"
    );
    let accounts = wasim.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].phone, "15551230001");
    assert_eq!(accounts[0].devices.len(), 1);
    assert!(accounts[0].devices[0].prekeys_uploaded > 0);
    c.stop().await;

    // Same store, new client: logs in without a scan.
    let mut again = spawn_client(&wasim, backend).await;
    again.connected().await;
    let snap = again.client.persistence_manager().get_device_snapshot();
    assert_eq!(
        snap.pn.as_ref().map(|j| j.user.to_string()),
        Some("15551230001".into())
    );
    again.stop().await;
    wasim.shutdown().await;
}
