//! `xmlns="blocklist"` (get and set) and `xmlns="privacy"`.

use crate::conn::{attr, iq_result};
use crate::state::World;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

pub(crate) fn handle(w: &mut World, account: &str, iq_id: &str, node: &Node) -> Node {
    let Some(acc) = w.accounts.get_mut(account) else {
        return iq_result(iq_id, vec![]);
    };
    let ty = attr(node, "type").unwrap_or_default();
    if ty == "set" {
        let items: Vec<&Node> = match node.get_optional_child("list") {
            Some(l) => l.get_children_by_tag("item").collect(),
            None => node.get_children_by_tag("item").collect(),
        };
        for item in items {
            let Some(jid) = attr(item, "jid") else {
                continue;
            };
            match attr(item, "action").as_deref() {
                Some("block") => {
                    acc.blocklist.insert(jid, wacore::time::now_secs());
                }
                Some("unblock") => {
                    acc.blocklist.remove(&jid);
                    if let Some(pn) = attr(item, "pn_jid") {
                        acc.blocklist.remove(&pn);
                    }
                }
                _ => {}
            }
        }
        return iq_result(iq_id, vec![]);
    }
    let items: Vec<Node> = acc
        .blocklist
        .iter()
        .map(|(jid, t)| {
            NodeBuilder::new("item")
                .attr("jid", jid.clone())
                .attr("t", t.to_string())
                .build()
        })
        .collect();
    iq_result(
        iq_id,
        vec![NodeBuilder::new("list").children(items).build()],
    )
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
