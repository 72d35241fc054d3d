//! Many clients at once, and the connection cap.

mod common;

use common::*;
use wasim::{Wasim, WasimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_link_at_once() {
    let wasim = start_wasim().await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let w = wasim.clone();
        tasks.push(tokio::spawn(async move {
            let account = format!("1555123{:04}", 100 + i);
            let mut c = linked_client(&w, &account).await;
            let r = c
                .client
                .contacts()
                .is_on_whatsapp(&[format!("{account}@s.whatsapp.net").parse().unwrap()])
                .await
                .unwrap();
            assert!(r[0].is_registered);
            c.stop().await;
        }));
    }
    for t in tasks {
        tokio::time::timeout(T, t)
            .await
            .expect("in time")
            .expect("no panic");
    }
    assert_eq!(wasim.accounts().await.len(), 4);
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused() {
    let _ = env_logger::builder().is_test(true).try_init();
    let wasim = Wasim::start(
        "127.0.0.1:0".parse().unwrap(),
        WasimConfig {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut first = spawn_client(&wasim, memory_backend()).await;
    first.qr().await;
    // The second WebSocket upgrade gets 503.
    let resp = reqwest::Client::new()
        .get(format!("http://{}/ws/chat", wasim.addr()))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    first.stop().await;
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_on_shutdown_even_with_clients_connected() {
    let _ = env_logger::builder().is_test(true).try_init();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = Wasim::new(WasimConfig::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = handle.clone();
    let server = tokio::spawn(async move {
        wasim::run(listener, h, async {
            let _ = rx.await;
        })
        .await
    });
    // `addr()` / `ws_url()` are known once `run` has started.
    while handle.addr().port() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut c = linked_client(&handle, "15551230200").await;
    tx.send(()).unwrap();
    tokio::time::timeout(T, server)
        .await
        .expect("run returns")
        .unwrap()
        .unwrap();
    c.stop().await;
}
