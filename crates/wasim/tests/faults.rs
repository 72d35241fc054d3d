//! Faults: dropped connections (the client reconnects), delayed answers, logout by the
//! phone (stream error 401) and by the client (remove-companion-device).

mod common;

use common::*;
use std::time::{Duration, Instant};
use wasim::{DirectoryUser, Fault};
use whatsapp_rust::types::events::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_delay_and_phone_logout() {
    let wasim = start_wasim().await;
    wasim
        .upsert_users(vec![DirectoryUser::new("15550004001")])
        .await
        .unwrap();
    let mut c = linked_client(&wasim, "15551230040").await;
    let jid: whatsapp_rust::Jid = "15550004001@s.whatsapp.net".parse().unwrap();

    // Drop: the client notices and logs in again by itself.
    wasim
        .fault(Fault::Drop {
            account: Some("15551230040".into()),
        })
        .await
        .unwrap();
    c.wait_for("Disconnected", |e| {
        matches!(e, Event::Disconnected(_)).then_some(())
    })
    .await;
    c.connected().await;
    assert!(
        c.client
            .contacts()
            .is_on_whatsapp(std::slice::from_ref(&jid))
            .await
            .unwrap()[0]
            .is_registered
    );

    // Delay: answers come late but come.
    wasim
        .fault(Fault::Delay {
            ms: 700,
            account: None,
        })
        .await
        .unwrap();
    let t0 = Instant::now();
    assert!(
        c.client
            .contacts()
            .is_on_whatsapp(std::slice::from_ref(&jid))
            .await
            .unwrap()[0]
            .is_registered
    );
    assert!(t0.elapsed() >= Duration::from_millis(650));
    wasim.fault(Fault::Clear).await.unwrap();

    // The phone logs the companion out.
    wasim
        .fault(Fault::Logout {
            account: "15551230040".into(),
            device: None,
        })
        .await
        .unwrap();
    c.wait_for("LoggedOut", |e| {
        matches!(e, Event::LoggedOut(_)).then_some(())
    })
    .await;
    assert!(wasim.accounts().await[0].devices.is_empty());
    c.stop().await;
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_logout_removes_the_companion() {
    let wasim = start_wasim().await;
    let mut c = linked_client(&wasim, "15551230041").await;
    assert_eq!(wasim.accounts().await[0].devices.len(), 1);
    tokio::time::timeout(T, c.client.logout())
        .await
        .expect("logout returns");
    let deadline = Instant::now() + T;
    while !wasim.accounts().await[0].devices.is_empty() {
        assert!(Instant::now() < deadline, "device still linked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.stop().await;
    wasim.shutdown().await;
}
