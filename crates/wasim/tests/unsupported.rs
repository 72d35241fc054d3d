//! An IQ wasim does not know gets WhatsApp's answer to an unsupported request
//! (`501 feature-not-implemented`), counted per namespace; a client's own login and
//! usage never get there.

mod common;

use common::*;
use whatsapp_rust::request::{InfoQuery, IqError};
use whatsapp_rust::{Jid, NodeBuilder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_iqs_get_501_and_are_counted() {
    let wasim = start_wasim().await;
    let account = "15551230050";
    let mut c = linked_client(&wasim, account).await;

    let server: Jid = "s.whatsapp.net".parse().unwrap();
    let content = whatsapp_rust::wacore_binary::NodeContent::Nodes(vec![
        NodeBuilder::new("anything").build(),
    ]);
    let err = tokio::time::timeout(
        T,
        c.client
            .send_iq(InfoQuery::get("w:wasim-unknown", server, Some(content))),
    )
    .await
    .expect("an answer, not a hang")
    .expect_err("an unsupported request is an error");
    match err {
        IqError::ServerError { code, text, .. } => {
            assert_eq!((code, text.as_str()), (501, "feature-not-implemented"));
        }
        other => panic!("expected a server error, got {other:?}"),
    }

    let stats = wasim.stats().await;
    let unsupported = &stats.accounts[account].unsupported;
    assert_eq!(
        unsupported.iter().collect::<Vec<_>>(),
        vec![(&"w:wasim-unknown".to_string(), &1)],
        "only the test's own IQ: linking and login use none wasim does not know"
    );
    c.stop().await;
    wasim.shutdown().await;
}
