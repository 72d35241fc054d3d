//! `xmlns="blocklist"` (get and set) and `xmlns="privacy"`.

use crate::conn::{attr, iq_result, notification};
use crate::state::{Shared, World};
use std::collections::BTreeMap;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

/// `<iq xmlns="blocklist">`: `get` answers the list; `set` applies `<item jid action>`
/// changes, answers the updated list (as whatsmeow's `UpdateBlocklist` expects), and
/// tells the account's other linked devices with
/// `<notification type="account_sync"><blocklist dhash prev_dhash><item jid action/>`
/// (whatsmeow `handleBlocklist`, Baileys `account_sync` → `blocklist.update`).
pub(crate) fn handle(
    shared: &Shared,
    w: &mut World,
    account: &str,
    device: u16,
    iq_id: &str,
    node: &Node,
) -> Node {
    let Some(acc) = w.accounts.get_mut(account) else {
        return iq_result(iq_id, vec![]);
    };
    let ty = attr(node, "type").unwrap_or_default();
    if ty != "set" {
        return iq_result(iq_id, vec![list_node(&acc.blocklist)]);
    }
    let prev_dhash = dhash(&acc.blocklist);
    let items: Vec<&Node> = match node.get_optional_child("list") {
        Some(l) => l.get_children_by_tag("item").collect(),
        None => node.get_children_by_tag("item").collect(),
    };
    let mut changes = Vec::new();
    for item in items {
        let Some(jid) = attr(item, "jid") else {
            continue;
        };
        match attr(item, "action").as_deref() {
            Some("block") => {
                acc.blocklist.insert(jid.clone(), wacore::time::now_secs());
                changes.push((jid, "block"));
            }
            Some("unblock") => {
                acc.blocklist.remove(&jid);
                if let Some(pn) = attr(item, "pn_jid") {
                    acc.blocklist.remove(&pn);
                }
                changes.push((jid, "unblock"));
            }
            _ => {}
        }
    }
    let reply = iq_result(iq_id, vec![list_node(&acc.blocklist)]);
    if changes.is_empty() {
        return reply;
    }
    let sync = NodeBuilder::new("blocklist")
        .attr("dhash", dhash(&acc.blocklist))
        .attr("prev_dhash", prev_dhash)
        .children(changes.into_iter().map(|(jid, action)| {
            NodeBuilder::new("item")
                .attr("jid", jid)
                .attr("action", action)
                .build()
        }))
        .build();
    let n = notification(
        shared,
        &format!("{account}@s.whatsapp.net"),
        "account_sync",
        vec![sync],
    );
    for other in w.devices_of(account) {
        if other != device {
            w.deliver(account, other, n.clone());
        }
    }
    reply
}

/// `<list dhash><item jid t/>...</list>`
fn list_node(blocklist: &BTreeMap<String, i64>) -> Node {
    let items: Vec<Node> = blocklist
        .iter()
        .map(|(jid, t)| {
            NodeBuilder::new("item")
                .attr("jid", jid.clone())
                .attr("t", t.to_string())
                .build()
        })
        .collect();
    NodeBuilder::new("list")
        .attr("dhash", dhash(blocklist))
        .children(items)
        .build()
}

/// A digest of the blocklist (WhatsApp's algorithm is not public: any value that
/// changes with the list serves clients, which only compare it).
fn dhash(blocklist: &BTreeMap<String, i64>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for jid in blocklist.keys() {
        h.update(jid.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn privacy(iq_id: &str) -> Node {
    let cat = |name: &str, value: &str| {
        NodeBuilder::new("category")
            .attr("name", name.to_string())
            .attr("value", value.to_string())
            .build()
    };
    iq_result(
        iq_id,
        vec![
            NodeBuilder::new("privacy")
                .children([
                    cat("last", "all"),
                    cat("online", "all"),
                    cat("profile", "all"),
                    cat("status", "all"),
                    cat("groupadd", "all"),
                    cat("readreceipts", "all"),
                    cat("calladd", "all"),
                ])
                .build(),
        ],
    )
}
