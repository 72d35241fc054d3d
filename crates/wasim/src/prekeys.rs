//! `xmlns="encrypt"`: pre-key upload, bundle fetch, digest and count; and the app-state
//! key share the phone sends once the companion's pre-keys are known.

use crate::conn::{attr, be_uint as be, child_bytes, iq_error, iq_result};
use crate::directory::normalize_phone;
use crate::state::Shared;
use crate::state::{ConnId, World};
use std::collections::VecDeque;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn handle_encrypt(
    shared: &Shared,
    w: &mut World,
    conn: ConnId,
    account: &str,
    device: u16,
    iq_id: &str,
    ty: &str,
    node: &Node,
) -> Option<Node> {
    let _ = conn;
    if ty == "set" && node.get_optional_child("registration").is_some() {
        let reg = child_bytes(node, "registration").map(be);
        let identity = child_bytes(node, "identity").and_then(|b| <[u8; 32]>::try_from(b).ok());
        let mut keys = VecDeque::new();
        if let Some(list) = node.get_optional_child("list") {
            for k in list.get_children_by_tag("key") {
                if let (Some(id), Some(v)) = (child_bytes(k, "id"), child_bytes(k, "value"))
                    && let Ok(v) = <[u8; 32]>::try_from(v)
                {
                    keys.push_back((be(id), v));
                }
            }
        }
        let skey = node.get_optional_child("skey").and_then(parse_skey);
        if let Some(d) = w
            .accounts
            .get_mut(account)
            .and_then(|a| a.devices.get_mut(&device))
        {
            if let Some(r) = reg {
                d.registration_id = Some(r);
            }
            if let Some(i) = identity {
                d.identity_pub = i;
            }
            if skey.is_some() {
                d.signed_prekey = skey;
            }
            d.prekeys_uploaded += keys.len();
            d.prekeys.extend(keys);
        }
        w.send(conn, crate::state::Out::Node(iq_result(iq_id, vec![])));
        if shared.config.auto_key_share {
            share_app_state_key(shared, w, account, device).await;
        }
        // Then, as a phone does after linking, the history sync (push names).
        crate::history::send_push_names(shared, w, account, device).await;
        return None;
    }
    if ty == "set"
        && let Some(rot) = node.get_optional_child("rotate")
    {
        if let Some(skey) = rot.get_optional_child("skey").and_then(parse_skey)
            && let Some(d) = w
                .accounts
                .get_mut(account)
                .and_then(|a| a.devices.get_mut(&device))
        {
            d.signed_prekey = Some(skey);
        }
        return Some(iq_result(iq_id, vec![]));
    }
    if node.get_optional_child("digest").is_some() {
        let Some(d) = w
            .accounts
            .get(account)
            .and_then(|a| a.devices.get(&device))
            .filter(|d| d.prekeys_uploaded > 0)
        else {
            return Some(iq_error(iq_id, 404, "item-not-found"));
        };
        let (Some(reg), Some((sid, spub, ssig))) = (d.registration_id, d.signed_prekey.clone())
        else {
            return Some(iq_error(iq_id, 404, "item-not-found"));
        };
        let pubs: Vec<&[u8]> = d.prekeys.iter().map(|(_, k)| k.as_slice()).collect();
        let hash = wacore::prekeys::compute_key_bundle_digest(&d.identity_pub, &spub, &ssig, &pubs);
        let ids: Vec<Node> = d
            .prekeys
            .iter()
            .map(|(id, _)| NodeBuilder::new("id").bytes(id3(*id)).build())
            .collect();
        return Some(iq_result(
            iq_id,
            vec![
                NodeBuilder::new("digest")
                    .children([
                        NodeBuilder::new("registration")
                            .bytes(reg.to_be_bytes().to_vec())
                            .build(),
                        NodeBuilder::new("type").bytes(vec![5u8]).build(),
                        NodeBuilder::new("identity")
                            .bytes(d.identity_pub.to_vec())
                            .build(),
                        NodeBuilder::new("skey")
                            .children([
                                NodeBuilder::new("id").bytes(id3(sid)).build(),
                                NodeBuilder::new("value").bytes(spub.to_vec()).build(),
                                NodeBuilder::new("signature").bytes(ssig).build(),
                            ])
                            .build(),
                        NodeBuilder::new("list").children(ids).build(),
                        NodeBuilder::new("hash").bytes(hash).build(),
                    ])
                    .build(),
            ],
        ));
    }
    if node.get_optional_child("count").is_some() {
        let n = w
            .accounts
            .get(account)
            .and_then(|a| a.devices.get(&device))
            .map(|d| d.prekeys.len())
            .unwrap_or(0);
        return Some(iq_result(
            iq_id,
            vec![
                NodeBuilder::new("count")
                    .attr("value", n.to_string())
                    .build(),
            ],
        ));
    }
    if let Some(key) = node.get_optional_child("key") {
        let mut users = Vec::new();
        for u in key.get_children_by_tag("user") {
            let jid = attr(u, "jid").unwrap_or_default();
            users.push(bundle_node(w, &jid));
        }
        return Some(iq_result(
            iq_id,
            vec![NodeBuilder::new("list").children(users).build()],
        ));
    }
    Some(w.unsupported_iq(account, "encrypt", iq_id))
}

fn parse_skey(n: &Node) -> Option<(u32, [u8; 32], Vec<u8>)> {
    Some((
        be(child_bytes(n, "id")?),
        child_bytes(n, "value")?.try_into().ok()?,
        child_bytes(n, "signature")?.to_vec(),
    ))
}

/// The `<user>` of a bundle-fetch answer for `jid` (PN or LID, any device).
fn bundle_node(w: &mut World, jid: &str) -> Node {
    let (user_part, server) = jid.split_once('@').unwrap_or((jid, "s.whatsapp.net"));
    let (user, dev) = match user_part.split_once(':') {
        Some((u, d)) => (u, d.parse::<u16>().unwrap_or(0)),
        None => (user_part, 0),
    };
    let phone = if server == "lid" {
        w.lids.get(user).cloned().unwrap_or_default()
    } else {
        normalize_phone(user)
    };
    let err = |code: &str| {
        NodeBuilder::new("user")
            .attr("jid", jid.to_string())
            .children([NodeBuilder::new("error")
                .attr("code", code.to_string())
                .attr("text", "item-not-found")
                .build()])
            .build()
    };
    let skey = |id: u32, v: &[u8], sig: &[u8]| {
        NodeBuilder::new("skey")
            .children([
                NodeBuilder::new("id").bytes(id3(id)).build(),
                NodeBuilder::new("value").bytes(v.to_vec()).build(),
                NodeBuilder::new("signature").bytes(sig.to_vec()).build(),
            ])
            .build()
    };
    if dev == 0 {
        let Some(u) = w.users.get_mut(&phone) else {
            return err("404");
        };
        let k = &u.keys;
        return NodeBuilder::new("user")
            .attr("jid", jid.to_string())
            .children([
                NodeBuilder::new("registration")
                    .bytes(k.registration_id().to_be_bytes().to_vec())
                    .build(),
                NodeBuilder::new("type").bytes(vec![5u8]).build(),
                NodeBuilder::new("identity")
                    .bytes(k.identity_pub().to_vec())
                    .build(),
                skey(
                    k.signed_prekey_id,
                    k.signed_prekey.public_key.public_key_bytes(),
                    &k.signed_prekey_sig,
                ),
            ])
            .build();
    }
    let Some(d) = w
        .accounts
        .get_mut(&phone)
        .and_then(|a| a.devices.get_mut(&dev))
    else {
        return err("404");
    };
    let (Some(reg), Some((sid, sv, ssig))) = (d.registration_id, d.signed_prekey.clone()) else {
        return err("404");
    };
    let mut children = vec![
        NodeBuilder::new("registration")
            .bytes(reg.to_be_bytes().to_vec())
            .build(),
        NodeBuilder::new("type").bytes(vec![5u8]).build(),
        NodeBuilder::new("identity")
            .bytes(d.identity_pub.to_vec())
            .build(),
        skey(sid, &sv, &ssig),
    ];
    if let Some((id, v)) = d.prekeys.pop_front() {
        children.push(
            NodeBuilder::new("key")
                .children([
                    NodeBuilder::new("id").bytes(id3(id)).build(),
                    NodeBuilder::new("value").bytes(v.to_vec()).build(),
                ])
                .build(),
        );
    }
    NodeBuilder::new("user")
        .attr("jid", jid.to_string())
        .children(children)
        .build()
}

/// The phone (device 0 of the account) shares the app-state key with a companion, end
/// to end encrypted, once per device.
pub(crate) async fn share_app_state_key(
    shared: &Shared,
    w: &mut World,
    account: &str,
    device: u16,
) {
    let Some(acc) = w.accounts.get(account) else {
        return;
    };
    let Some(d) = acc.devices.get(&device) else {
        return;
    };
    if d.key_shared || d.conn.is_none() {
        return;
    }
    let msg = acc.appstate.key_share_message();
    let extra = [("category", "peer".to_string())];
    match crate::conn::send_encrypted(shared, w, account, account, device, &msg, &extra).await {
        Ok(()) => {
            if let Some(d) = w
                .accounts
                .get_mut(account)
                .and_then(|a| a.devices.get_mut(&device))
            {
                d.key_shared = true;
            }
        }
        Err(e) => tracing::warn!("wasim: app-state key share failed: {e}"),
    }
}
