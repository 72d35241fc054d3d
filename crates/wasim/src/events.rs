//! Events a directory user causes: push name (an incoming message's `notify`), picture,
//! about, identity change, number change.

use crate::directory::{UserEvent, normalize_phone};
use crate::state::Shared;
use crate::state::{Out, World};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::whatsapp as wa;

/// Every connected linked device of every account but `except`: (account, device, conn).
fn audience(w: &World, except: &str) -> Vec<(String, u16, u64)> {
    let mut v = Vec::new();
    for a in w.accounts.values() {
        if a.phone == except {
            continue;
        }
        for d in a.devices.values() {
            if let Some(c) = d.conn {
                v.push((a.phone.clone(), d.id, c));
            }
        }
    }
    v
}

fn notification(shared: &Shared, from: &str, ty: &str, children: Vec<Node>) -> Node {
    NodeBuilder::new("notification")
        .attr("from", from.to_string())
        .attr("type", ty.to_string())
        .attr("id", shared.stanza_id())
        .attr("t", wacore::time::now_secs().to_string())
        .children(children)
        .build()
}

async fn message_from(
    shared: &Shared,
    w: &mut World,
    phone: &str,
    text: &str,
) -> anyhow::Result<usize> {
    let push_name = w.users[phone].info.push_name.clone().unwrap_or_default();
    let lid = w.lid_of(phone);
    let msg = wa::Message {
        conversation: Some(text.to_string()),
        ..Default::default()
    };
    let mut sent = 0;
    for (account, device, _) in audience(w, phone) {
        let extra = [
            ("notify", push_name.clone()),
            ("sender_lid", format!("{lid}@lid")),
        ];
        match crate::conn::send_encrypted(shared, w, phone, &account, device, &msg, &extra).await {
            Ok(()) => sent += 1,
            Err(e) => tracing::debug!("wasim: message to {account}:{device} not sent: {e}"),
        }
    }
    Ok(sent)
}

pub(crate) async fn user_event(
    shared: &Shared,
    w: &mut World,
    phone: &str,
    event: UserEvent,
) -> anyhow::Result<()> {
    let jid = format!("{phone}@s.whatsapp.net");
    match event {
        UserEvent::PushName { push_name } => {
            w.users.get_mut(phone).expect("checked").info.push_name = Some(push_name);
            message_from(shared, w, phone, "hi").await?;
        }
        UserEvent::Picture {
            picture_id,
            picture_url,
        } => {
            let info = &mut w.users.get_mut(phone).expect("checked").info;
            info.picture_id = picture_id.clone();
            if picture_url.is_some() {
                info.picture_url = picture_url;
            }
            let child = match picture_id {
                Some(id) => NodeBuilder::new("set")
                    .attr("jid", jid.clone())
                    .attr("id", crate::usync::numeric_picture_id(&id))
                    .build(),
                None => NodeBuilder::new("delete").attr("jid", jid.clone()).build(),
            };
            let n = notification(shared, &jid, "picture", vec![child]);
            for (_, _, c) in audience(w, phone) {
                w.send(c, Out::Node(n.clone()));
            }
        }
        UserEvent::About { about } => {
            w.users.get_mut(phone).expect("checked").info.about = Some(about.clone());
            let n = notification(
                shared,
                &jid,
                "status",
                vec![NodeBuilder::new("set").string_content(about).build()],
            );
            for (_, _, c) in audience(w, phone) {
                w.send(c, Out::Node(n.clone()));
            }
        }
        UserEvent::Identity => {
            // The client must know the old identity first: a message under it.
            let pending: Vec<(String, u16)> = audience(w, phone)
                .into_iter()
                .filter(|(a, d, _)| !w.users[phone].keys.has_session(&format!("{a}.{d}")))
                .map(|(a, d, _)| (a, d))
                .collect();
            if !pending.is_empty() {
                message_from(shared, w, phone, "hello").await?;
                // Let the client decrypt it (and store the identity) first.
                let _ = pending;
            }
            w.users.get_mut(phone).expect("checked").keys.rotate();
            let n = notification(
                shared,
                &jid,
                "encrypt",
                vec![NodeBuilder::new("identity").build()],
            );
            let targets = audience(w, phone);
            let txs: Vec<_> = targets
                .iter()
                .filter_map(|(_, _, c)| w.conns.get(c).map(|e| e.tx.clone()))
                .collect();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                for tx in txs {
                    let _ = tx.send(Out::Node(n.clone()));
                }
            });
        }
        UserEvent::NumberChange { new_phone } => {
            let new_phone = normalize_phone(&new_phone);
            if new_phone.is_empty() || w.users.contains_key(&new_phone) {
                anyhow::bail!("new phone {new_phone} is empty or taken");
            }
            let mut user = w.users.remove(phone).expect("checked");
            user.info.phone = new_phone.clone();
            let lid = user.info.lid.clone().unwrap_or_default();
            w.lids.insert(lid.clone(), new_phone.clone());
            w.users.insert(new_phone.clone(), user);
            let n = notification(
                shared,
                "s.whatsapp.net",
                "contacts",
                vec![
                    NodeBuilder::new("modify")
                        .attr("old", jid.clone())
                        .attr("new", format!("{new_phone}@s.whatsapp.net"))
                        .attr("old_lid", format!("{lid}@lid"))
                        .attr("new_lid", format!("{lid}@lid"))
                        .build(),
                ],
            );
            for (_, _, c) in audience(w, &new_phone) {
                w.send(c, Out::Node(n.clone()));
            }
        }
    }
    Ok(())
}
