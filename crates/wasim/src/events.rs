//! Events a directory user causes: push name (an incoming message's `notify`), picture,
//! about, identity change, number change.

use crate::conn::notification;
use crate::directory::{UserEvent, normalize_phone};
use crate::state::Shared;
use crate::state::{Out, World};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::whatsapp as wa;

/// Every linked device of every account but the user's own: (account, device).
fn audience(w: &World, except: &str) -> Vec<(String, u16)> {
    w.linked_devices_except(except)
}

fn broadcast(w: &mut World, except: &str, n: &Node) {
    for (account, device) in audience(w, except) {
        w.deliver(&account, device, n.clone());
    }
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
    for (account, device) in audience(w, phone) {
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
            broadcast(w, phone, &n);
        }
        UserEvent::About { about } => {
            w.users.get_mut(phone).expect("checked").info.about = Some(about.clone());
            let n = notification(
                shared,
                &jid,
                "status",
                vec![NodeBuilder::new("set").string_content(about).build()],
            );
            broadcast(w, phone, &n);
        }
        UserEvent::Identity => {
            // The client must know the old identity first: a message under it, unless
            // every device already has a session with this user.
            let unknown = audience(w, phone)
                .iter()
                .any(|(a, d)| !w.users[phone].keys.has_session(&format!("{a}.{d}")));
            if unknown {
                message_from(shared, w, phone, "hello").await?;
            }
            w.users.get_mut(phone).expect("checked").keys.rotate();
            let n = notification(
                shared,
                &jid,
                "encrypt",
                vec![NodeBuilder::new("identity").build()],
            );
            // Online devices get it a moment later, so that they have stored the old
            // identity from the message above; offline ones find both in order.
            let mut later = Vec::new();
            for (account, device) in audience(w, phone) {
                let online = w.accounts[&account].devices[&device].conn;
                match online.and_then(|c| w.conns.get(&c)) {
                    Some(e) => later.push(e.tx.clone()),
                    None => w.deliver(&account, device, n.clone()),
                }
            }
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                for tx in later {
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
            broadcast(w, &new_phone, &n);
        }
    }
    Ok(())
}
