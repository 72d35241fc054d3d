//! The history sync a phone sends a freshly linked companion. wasim sends the part that
//! matters for contacts: a `PUSH_NAME` history sync with the push names of the people
//! in the account's address book, as WhatsApp's phones do right after linking.
//!
//! Like every history sync it travels as a peer message from the account's own phone
//! (device 0): `protocolMessage{type: HISTORY_SYNC_NOTIFICATION, historySyncNotification}`.
//! Real phones upload the zlib-compressed `HistorySync` as an encrypted media blob and
//! send its `directPath`/keys; wasim puts the compressed blob inline
//! (`initialHistBootstrapInlinePayload`), which whatsmeow (`DownloadHistorySync`) and
//! whatsapp-rust (`process_history_sync_task`) read before trying a download.

use crate::state::{Shared, World};
use std::io::Write;
use waproto::buffa::{self, Message};
use waproto::whatsapp as wa;

/// Push names per history-sync chunk (a real phone also splits large syncs into chunks).
const CHUNK: usize = 5_000;

/// `(jid, push name)` of the address-book contacts of `account` that have a push name.
fn push_names(w: &World, account: &str) -> Vec<(String, String)> {
    let Some(acc) = w.accounts.get(account) else {
        return Vec::new();
    };
    acc.contacts
        .iter()
        .filter_map(|c| {
            let name = w.users.get(&c.phone)?.info.push_name.clone()?;
            (!name.is_empty()).then(|| (format!("{}@s.whatsapp.net", c.phone), name))
        })
        .collect()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("in-memory write");
    enc.finish().expect("in-memory write")
}

/// The history-sync messages carrying `names`, one per chunk.
fn messages(names: &[(String, String)]) -> Vec<wa::Message> {
    let chunks: Vec<&[(String, String)]> = names.chunks(CHUNK).collect();
    let total = chunks.len().max(1);
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let progress = (((i + 1) * 100) / total) as u32;
            let sync = wa::HistorySync {
                sync_type: wa::history_sync::HistorySyncType::PUSH_NAME,
                chunk_order: Some(i as u32 + 1),
                progress: Some(progress),
                pushnames: chunk
                    .iter()
                    .map(|(id, name)| wa::Pushname {
                        id: Some(id.clone()),
                        pushname: Some(name.clone()),
                    })
                    .collect(),
                ..Default::default()
            };
            let raw = sync.encode_to_vec();
            let payload = zlib(&raw);
            wa::Message {
                protocol_message: buffa::MessageField::some(wa::message::ProtocolMessage {
                    r#type: Some(wa::message::protocol_message::Type::HISTORY_SYNC_NOTIFICATION),
                    history_sync_notification: buffa::MessageField::some(
                        wa::message::HistorySyncNotification {
                            file_length: Some(raw.len() as u64),
                            sync_type: Some(wa::message::HistorySyncType::PUSH_NAME),
                            chunk_order: Some(i as u32 + 1),
                            progress: Some(progress),
                            initial_hist_bootstrap_inline_payload: Some(payload),
                            ..Default::default()
                        },
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect()
}

/// The phone sends a newly linked companion the push names it knows, once per device.
pub(crate) async fn send_push_names(shared: &Shared, w: &mut World, account: &str, device: u16) {
    let sent = w
        .accounts
        .get(account)
        .and_then(|a| a.devices.get(&device))
        .is_none_or(|d| d.history_sent);
    if sent {
        return;
    }
    let names = push_names(w, account);
    let extra = [("category", "peer".to_string())];
    for msg in messages(&names) {
        if let Err(e) =
            crate::conn::send_encrypted(shared, w, account, account, device, &msg, &extra).await
        {
            tracing::warn!("wasim: push-name history sync not sent: {e}");
            return;
        }
    }
    if let Some(d) = w
        .accounts
        .get_mut(account)
        .and_then(|a| a.devices.get_mut(&device))
    {
        d.history_sent = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_names_are_chunked_and_inline_zlib() {
        let names: Vec<(String, String)> = (0..CHUNK + 1)
            .map(|i| (format!("1555{i:07}@s.whatsapp.net"), format!("N{i}")))
            .collect();
        let msgs = messages(&names);
        assert_eq!(msgs.len(), 2);
        let n = msgs[1]
            .protocol_message
            .as_option()
            .unwrap()
            .history_sync_notification
            .as_option()
            .unwrap();
        assert_eq!(n.chunk_order, Some(2));
        assert_eq!(n.progress, Some(100));
        let raw = wacore_binary::zlib_pool::decompress_zlib_pooled(
            n.initial_hist_bootstrap_inline_payload.as_deref().unwrap(),
            1 << 24,
        )
        .unwrap();
        let sync = wa::HistorySync::decode_from_slice(&raw).unwrap();
        assert_eq!(sync.sync_type, wa::history_sync::HistorySyncType::PUSH_NAME);
        assert_eq!(sync.pushnames.len(), 1);
        assert_eq!(
            sync.pushnames[0].pushname.as_deref(),
            Some(&*format!("N{CHUNK}"))
        );
    }
}
