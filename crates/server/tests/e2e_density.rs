//! Many sessions in one process (issue 15): a restart restores linked sessions in turns
//! (`--max-concurrent-logins`), and every turn is handed on: with one login at a time,
//! all sessions still come back WORKING without a scan.

mod common;

use common::Linked;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_restores_every_session_one_login_at_a_time() {
    let linked = Linked::start_with(Vec::new(), |s| s.max_concurrent_logins = 1).await;
    let sessions = ["one", "two", "three", "four"];
    for (i, name) in sessions.iter().enumerate() {
        linked.link(name, &format!("1555777000{i}")).await;
    }
    let linked = linked.restart_app().await;
    for name in sessions {
        linked.wait_status(name, "WORKING").await;
    }
    for i in 0..sessions.len() {
        assert_eq!(
            linked.logins(&format!("1555777000{i}")).await,
            2,
            "one login at the link and one after the restart, no retries"
        );
    }
    linked.stop().await;
}
