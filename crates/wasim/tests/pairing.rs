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

async fn pair_code_client(wasim: &wasim::Wasim, phone: &str) -> (TestClient, String) {
    let opts = whatsapp_rust::pair_code::PairCodeOptions {
        phone_number: phone.into(),
        custom_code: Some("ABCD2345".into()),
        ..Default::default()
    };
    let mut c = spawn_client_with(wasim, memory_backend(), Some(opts)).await;
    let code = c
        .wait_for("PairingCode", |e| match e {
            Event::PairingCode(p) => Some(p.code.clone()),
            _ => None,
        })
        .await;
    (c, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_code_links_and_a_wrong_code_does_not() {
    let wasim = start_wasim().await;

    let (mut c, code) = pair_code_client(&wasim, "15551230002").await;
    assert_eq!(code.replace('-', ""), "ABCD2345");
    wasim.pair_code("+1 555 123 0002", &code).await.unwrap();
    c.wait_for("PairSuccess", |e| {
        matches!(e, Event::PairSuccess(_)).then_some(())
    })
    .await;
    c.connected().await;
    let accounts = wasim.accounts().await;
    assert_eq!(accounts[0].phone, "15551230002");
    assert_eq!(accounts[0].devices.len(), 1);
    c.stop().await;

    let (mut other, _) = pair_code_client(&wasim, "15551230003").await;
    let wrong = wasim.pair_code("15551230003", "ZZZZ9999").await;
    assert!(wrong.is_err(), "a wrong code must not link");
    assert!(
        wasim
            .accounts()
            .await
            .iter()
            .all(|a| a.phone != "15551230003" || a.devices.is_empty())
    );
    other.stop().await;
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_request_is_answered_when_no_share_came() {
    let _ = env_logger::builder().is_test(true).try_init();
    let wasim = wasim::Wasim::start(
        "127.0.0.1:0".parse().unwrap(),
        wasim::WasimConfig {
            auto_key_share: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    wasim
        .add_contact(
            "15551230004",
            wasim::AddressBookContact {
                phone: "15550000404".into(),
                full_name: Some("Late Key".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();
    let mut c = spawn_client(&wasim, memory_backend()).await;
    let qr = c.qr().await;
    wasim.scan_qr(&qr, Some("15551230004")).await.unwrap();
    let name = c
        .wait_for("ContactUpdate after the key request", |e| match e {
            Event::ContactUpdate(u) => u.action.full_name.clone(),
            _ => None,
        })
        .await;
    assert_eq!(name, "Late Key");
    c.connected().await;
    c.stop().await;
    wasim.shutdown().await;
}

/// A companion unlinked from the phone does not lend its device id to the next one:
/// WhatsApp's ids only count up. With a reused id, the phone's key share went out on
/// the old device's Signal session, the new client could not read it, and waited for
/// it until its timeout (a logout during that wait hung for 30 s in the sandbox).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_device_id_is_not_given_again() {
    let wasim = start_wasim().await;
    let device_of = |e: &Event| match e {
        Event::PairSuccess(p) => Some(p.id.device),
        _ => None,
    };
    let mut first = spawn_client(&wasim, memory_backend()).await;
    let qr = first.qr().await;
    wasim.scan_qr(&qr, Some("15551230007")).await.unwrap();
    let first_id = first.wait_for("PairSuccess", device_of).await;
    first.connected().await;
    first.client.logout().await;
    first.stop().await;
    assert!(wasim.accounts().await[0].devices.is_empty());

    let mut second = spawn_client(&wasim, memory_backend()).await;
    let qr = second.qr().await;
    let t0 = Instant::now();
    wasim.scan_qr(&qr, Some("15551230007")).await.unwrap();
    let second_id = second.wait_for("PairSuccess", device_of).await;
    assert!(second_id > first_id, "{second_id} after {first_id}");
    second.connected().await;
    assert!(
        t0.elapsed().as_secs() < 8,
        "Connected took {:?}: the key share did not arrive",
        t0.elapsed()
    );
    second.stop().await;
    wasim.shutdown().await;
}
