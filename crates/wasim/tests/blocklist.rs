//! A block or unblock made on one linked device reaches the account's other linked
//! devices as WhatsApp sends it: `<notification type="account_sync"><blocklist>`.

mod common;

use common::*;
use std::sync::Arc;
use wasim::DirectoryUser;
use whatsapp_rust::{Jid, NodeFilter, OwnedNodeRef};

/// The `(jid, action)` items and the `dhash` / `prev_dhash` of an account_sync blocklist.
fn blocklist_sync(n: &Arc<OwnedNodeRef>) -> (Vec<(String, String)>, String, String) {
    let n = n.get();
    let list = n
        .get_optional_child("blocklist")
        .expect("a <blocklist> child");
    let items = list
        .get_children_by_tag("item")
        .map(|i| {
            let mut a = i.attrs();
            (
                a.optional_string("jid").unwrap_or_default().into_owned(),
                a.optional_string("action").unwrap_or_default().into_owned(),
            )
        })
        .collect();
    let mut a = list.attrs();
    let dhash = a.optional_string("dhash").unwrap_or_default().into_owned();
    let prev = a
        .optional_string("prev_dhash")
        .unwrap_or_default()
        .into_owned();
    (items, dhash, prev)
}

/// Registers (now) a waiter for the next account_sync notification `c` receives.
fn account_sync_waiter(c: &TestClient) -> futures::channel::oneshot::Receiver<Arc<OwnedNodeRef>> {
    c.client.wait_for_node(
        NodeFilter::tag("notification")
            .attr("type", "account_sync")
            .attr("from", "15551230060@s.whatsapp.net"),
    )
}

async fn received(
    waiter: futures::channel::oneshot::Receiver<Arc<OwnedNodeRef>>,
    what: &str,
) -> Arc<OwnedNodeRef> {
    match tokio::time::timeout(T, waiter).await {
        Ok(Ok(n)) => n,
        _ => panic!("no account_sync notification for {what}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_on_one_device_reach_the_other() {
    let wasim = start_wasim().await;
    wasim
        .upsert_users(vec![DirectoryUser {
            lid: Some("900000000006001".into()),
            ..DirectoryUser::new("15550006001")
        }])
        .await
        .unwrap();
    let account = "15551230060";
    let mut a = linked_client(&wasim, account).await;
    let mut b = linked_client(&wasim, account).await;
    let target: Jid = "15550006001@s.whatsapp.net".parse().unwrap();
    // A learns the LID (a block goes out by LID).
    a.client
        .contacts()
        .is_on_whatsapp(std::slice::from_ref(&target))
        .await
        .unwrap();

    let waiter = account_sync_waiter(&b);
    a.client.blocking().block(&target).await.unwrap();
    let seen = received(waiter, "the block").await;
    let (items, dhash, _) = blocklist_sync(&seen);
    assert_eq!(
        items,
        vec![("900000000006001@lid".to_string(), "block".to_string())]
    );
    assert!(!dhash.is_empty());

    let waiter = account_sync_waiter(&b);
    a.client.blocking().unblock(&target).await.unwrap();
    let seen = received(waiter, "the unblock").await;
    let (items, _, prev) = blocklist_sync(&seen);
    assert_eq!(
        items,
        vec![("900000000006001@lid".to_string(), "unblock".to_string())]
    );
    assert_eq!(prev, dhash, "prev_dhash is the hash before this change");
    a.stop().await;
    b.stop().await;
    wasim.shutdown().await;
}
