//! One WebSocket connection: handshake, login or registration, and the stanza loop.

use crate::Wasim;
use crate::directory::{UserEvent, normalize_phone};
use crate::noise;
use crate::state::{ConnEntry, ConnId, Out, Shared, World};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use wacore::framing::FrameDecoder;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::consts::WA_CONN_HEADER;
use wacore_binary::{Node, NodeContent};
use waproto::whatsapp as wa;

pub(crate) fn ws_router(handle: Wasim) -> Router {
    Router::new()
        .route("/ws/chat", get(ws_handler))
        .with_state(handle)
}

struct ActiveGuard(Arc<Shared>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn ws_handler(State(h): State<Wasim>, ws: WebSocketUpgrade) -> Response {
    let shared = h.shared.clone();
    let n = shared.active.fetch_add(1, Ordering::SeqCst);
    let guard = ActiveGuard(shared.clone());
    if n >= shared.config.max_connections {
        drop(guard);
        return (StatusCode::SERVICE_UNAVAILABLE, "connection cap reached").into_response();
    }
    ws.max_message_size(64 << 20)
        .on_upgrade(move |socket| async move {
            let _guard = guard;
            let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
            let mut unsent = Vec::new();
            if let Err(e) = serve(shared.clone(), id, socket, &mut unsent).await {
                tracing::debug!("wasim conn {id} ended: {e}");
            }
            cleanup(&shared, id, unsent).await;
        })
}

/// Forgets the connection; messages and notifications it had not written yet go back to
/// the device's offline queue.
async fn cleanup(shared: &Shared, id: ConnId, unsent: Vec<Node>) {
    shared.touch();
    let mut w = shared.world.lock().await;
    if let Some(c) = w.conns.remove(&id)
        && let (Some(acc), Some(dev)) = (c.account, c.device)
        && let Some(a) = w.accounts.get_mut(&acc)
        && let Some(d) = a.devices.get_mut(&dev)
        && d.conn == Some(id)
    {
        d.conn = None;
        let requeue = unsent
            .into_iter()
            .filter(|n| matches!(n.tag.as_ref(), "message" | "notification"));
        let mut pending: Vec<Node> = requeue.collect();
        pending.append(&mut d.pending);
        d.pending = pending;
    }
    w.qr_refs.retain(|_, (c, _)| *c != id);
    w.pair_codes.retain(|_, p| p.conn != id);
}

/// Reads WebSocket messages until `dec` yields a frame.
async fn next_frame(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    dec: &mut FrameDecoder,
    first: &mut bool,
) -> anyhow::Result<Option<Vec<u8>>> {
    loop {
        if let Some(f) = dec.decode_frame() {
            return Ok(Some(f.to_vec()));
        }
        match stream.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(WsMessage::Binary(b))) => {
                let mut data: &[u8] = &b;
                if *first {
                    *first = false;
                    if data.starts_with(&WA_CONN_HEADER) {
                        data = &data[WA_CONN_HEADER.len()..];
                    }
                }
                dec.feed(data);
            }
            Some(Ok(WsMessage::Close(_))) => return Ok(None),
            Some(Ok(_)) => {}
        }
    }
}

async fn serve(
    shared: Arc<Shared>,
    id: ConnId,
    socket: WebSocket,
    unsent: &mut Vec<Node>,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = socket.split();
    let mut dec = FrameDecoder::new();
    let mut first = true;
    let hs = async {
        let Some(hello) = next_frame(&mut stream, &mut dec, &mut first).await? else {
            anyhow::bail!("closed before hello");
        };
        let (resp, sh) = noise::server_hello(&shared.id, &hello)?;
        sink.send(WsMessage::Binary(
            wacore::framing::encode_frame(&sh, None)?.into(),
        ))
        .await?;
        let Some(fin) = next_frame(&mut stream, &mut dec, &mut first).await? else {
            anyhow::bail!("closed before finish");
        };
        noise::client_finish(resp, &fin)
    };
    let (client_static, payload, transport) =
        tokio::time::timeout(Duration::from_secs(20), hs).await??;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Out>();
    {
        let mut w = shared.world.lock().await;
        w.conns.insert(
            id,
            ConnEntry {
                tx: tx.clone(),
                account: None,
                device: None,
            },
        );
        if payload.device_pairing_data.is_set() {
            crate::pairing::start_registration(&shared, &mut w, id, client_static, &payload);
        } else {
            login(&mut w, id, client_static, &payload);
        }
    }

    let res = stanza_loop(&shared, id, &mut rx, sink, stream, dec, first, transport).await;
    // Whatever is still queued for this connection was never written.
    rx.close();
    while let Ok(out) = rx.try_recv() {
        if let Out::Node(n) | Out::NodeThenClose(n) = out {
            unsent.push(n);
        }
    }
    res
}

#[allow(clippy::too_many_arguments)]
async fn stanza_loop(
    shared: &Arc<Shared>,
    id: ConnId,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Out>,
    mut sink: futures::stream::SplitSink<WebSocket, WsMessage>,
    mut stream: futures::stream::SplitStream<WebSocket>,
    mut dec: FrameDecoder,
    mut first: bool,
    mut transport: noise::Transport,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(out) = out else { break };
                match out {
                    Out::Node(n) => send_node(&mut sink, &mut transport, &n).await?,
                    Out::NodeThenClose(n) => {
                        send_node(&mut sink, &mut transport, &n).await?;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        break;
                    }
                    Out::Close => break,
                }
            }
            frame = next_frame(&mut stream, &mut dec, &mut first) => {
                let Some(frame) = frame? else { break };
                let plain = transport.open(frame)?;
                let data = wacore_binary::util::unpack(&plain)?;
                let node = wacore_binary::marshal::unmarshal_ref(&data)?.to_owned();
                handle_node(shared, id, node).await;
            }
        }
    }
    let _ = sink.close().await;
    Ok(())
}

async fn send_node(
    sink: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
    transport: &mut noise::Transport,
    node: &Node,
) -> anyhow::Result<()> {
    let plain = wacore_binary::marshal::marshal(node)?;
    let frame = transport.seal(&plain)?;
    sink.send(WsMessage::Binary(frame.into())).await?;
    Ok(())
}

fn login(w: &mut World, id: ConnId, client_static: [u8; 32], p: &wa::ClientPayload) {
    let phone = p.username.map(|u| u.to_string()).unwrap_or_default();
    let device = p.device.unwrap_or(0) as u16;
    let ok = w
        .accounts
        .get(&phone)
        .and_then(|a| a.devices.get(&device))
        .is_some_and(|d| d.noise_pub == client_static);
    if !ok {
        w.send(
            id,
            Out::NodeThenClose(NodeBuilder::new("failure").attr("reason", "401").build()),
        );
        return;
    }
    let old = {
        let d = w
            .accounts
            .get_mut(&phone)
            .and_then(|a| a.devices.get_mut(&device))
            .expect("checked");
        d.conn.replace(id)
    };
    if let Some(old) = old
        && old != id
    {
        w.send(old, Out::Close);
    }
    if let Some(c) = w.conns.get_mut(&id) {
        c.account = Some(phone.clone());
        c.device = Some(device);
    }
    let lid = w.lid_of(&phone);
    let success = NodeBuilder::new("success")
        .attr("t", wacore::time::now_secs().to_string())
        .attr("lid", format!("{lid}@lid"))
        .attr("props", "1")
        .attr("creation", "1700000000")
        .attr("location", "wasim")
        .build();
    w.send(id, Out::Node(success));
}

pub(crate) fn stream_error(code: &str) -> Node {
    NodeBuilder::new("stream:error").attr("code", code).build()
}

pub(crate) fn attr(n: &Node, key: &str) -> Option<String> {
    n.attrs.get(key).map(|v| v.as_str().into_owned())
}

pub(crate) fn iq_result(id: &str, children: Vec<Node>) -> Node {
    let b = NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", id.to_string());
    if children.is_empty() {
        b.build()
    } else {
        b.children(children).build()
    }
}

pub(crate) fn iq_error(id: &str, code: u16, text: &str) -> Node {
    NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "error")
        .attr("id", id.to_string())
        .children([NodeBuilder::new("error")
            .attr("code", code.to_string())
            .attr("text", text.to_string())
            .build()])
        .build()
}

pub(crate) fn content_bytes(n: &Node) -> Option<&[u8]> {
    match &n.content {
        Some(NodeContent::Bytes(b)) => Some(b),
        _ => None,
    }
}

/// The bytes of `n`'s child `tag`.
pub(crate) fn child_bytes<'a>(n: &'a Node, tag: &str) -> Option<&'a [u8]> {
    n.get_optional_child(tag).and_then(content_bytes)
}

/// A big-endian unsigned number of up to 4 bytes (registration ids, key ids).
pub(crate) fn be_uint(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x))
}

/// `<notification from type id t>children</notification>`.
pub(crate) fn notification(shared: &Shared, from: &str, ty: &str, children: Vec<Node>) -> Node {
    NodeBuilder::new("notification")
        .attr("from", from.to_string())
        .attr("type", ty.to_string())
        .attr("id", shared.stanza_id())
        .attr("t", wacore::time::now_secs().to_string())
        .children(children)
        .build()
}

async fn handle_node(shared: &Arc<Shared>, id: ConnId, node: Node) {
    shared.touch();
    let mut w = shared.world.lock().await;
    let (account, device) = match w.conns.get(&id) {
        Some(c) => (c.account.clone(), c.device),
        None => return,
    };
    match node.tag.as_ref() {
        "iq" => {
            let ty = attr(&node, "type").unwrap_or_default();
            if ty == "result" || ty == "error" {
                crate::pairing::on_iq_response(&mut w, id, &node);
                return;
            }
            let xmlns = attr(&node, "xmlns").unwrap_or_default();
            w.count_iq(account.as_deref(), &xmlns);
            let iq_id = attr(&node, "id").unwrap_or_default();
            let reply = match (account.as_deref(), device) {
                (Some(acc), Some(dev)) => {
                    handle_iq(shared, &mut w, id, acc, dev, &xmlns, &iq_id, &node).await
                }
                _ => crate::pairing::handle_unpaired_iq(shared, &mut w, id, &xmlns, &iq_id, &node),
            };
            if let Some(reply) = reply {
                let delay = w.faults.delay_for(account.as_deref());
                if delay == 0 {
                    w.send(id, Out::Node(reply));
                } else if let Some(c) = w.conns.get(&id) {
                    let tx = c.tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        let _ = tx.send(Out::Node(reply));
                    });
                }
            }
        }
        "receipt" | "message" => {
            if node.tag == "message"
                && let (Some(acc), Some(dev)) = (account.as_deref(), device)
                && is_peer_message_to_phone(&w, acc, &node)
            {
                // A peer message to our own phone: in practice the app-state key request
                // a companion sends when no key share came. Answer with the share.
                let acc = acc.to_string();
                if let Some(d) = w
                    .accounts
                    .get_mut(&acc)
                    .and_then(|a| a.devices.get_mut(&dev))
                {
                    d.key_shared = false;
                }
                crate::prekeys::share_app_state_key(shared, &mut w, &acc, dev).await;
            }
            let class = if node.tag == "receipt" {
                "receipt"
            } else {
                "message"
            };
            let mut b = NodeBuilder::new("ack")
                .attr("class", class)
                .attr("id", attr(&node, "id").unwrap_or_default());
            if let Some(to) = attr(&node, "to") {
                b = b.attr("from", to);
            }
            if let Some(t) = attr(&node, "type") {
                b = b.attr("type", t);
            }
            w.send(id, Out::Node(b.build()));
        }
        _ => {}
    }
}

/// `<message to="ACCOUNT@s.whatsapp.net|ACCOUNT_LID@lid" category="peer">`.
fn is_peer_message_to_phone(w: &World, account: &str, node: &Node) -> bool {
    let to = attr(node, "to").unwrap_or_default();
    let (user, server) = to.split_once('@').unwrap_or((&to, ""));
    let (user, dev) = user.split_once(':').unwrap_or((user, "0"));
    let own = (server == "s.whatsapp.net" && user == account)
        || (server == "lid" && user == w.lid_of(account));
    own && dev == "0" && attr(node, "category").as_deref() == Some("peer")
}

#[allow(clippy::too_many_arguments)]
async fn handle_iq(
    shared: &Arc<Shared>,
    w: &mut World,
    conn: ConnId,
    account: &str,
    device: u16,
    xmlns: &str,
    iq_id: &str,
    node: &Node,
) -> Option<Node> {
    let first_child = node
        .children()
        .and_then(|c| c.first())
        .map(|c| c.tag.to_string());
    let ty = attr(node, "type").unwrap_or_default();
    Some(match xmlns {
        "passive" => {
            let reply = iq_result(iq_id, vec![]);
            w.send(conn, Out::Node(reply));
            // Whatever arrived while the device was away, then the end of the backlog.
            let pending = w
                .accounts
                .get_mut(account)
                .and_then(|a| a.devices.get_mut(&device))
                .map(|d| std::mem::take(&mut d.pending))
                .unwrap_or_default();
            let count = pending.len();
            for n in pending {
                w.send(conn, Out::Node(n));
            }
            let ib = NodeBuilder::new("ib")
                .children([NodeBuilder::new("offline")
                    .attr("count", count.to_string())
                    .build()])
                .build();
            w.send(conn, Out::Node(ib));
            return None;
        }
        "w:p" => iq_result(iq_id, vec![]),
        "encrypt" => {
            return crate::prekeys::handle_encrypt(
                shared, w, conn, account, device, iq_id, &ty, node,
            )
            .await;
        }
        "usync" => crate::usync::handle(w, account, iq_id, node),
        "w:profile:picture" => crate::picture::handle(w, account, iq_id, node),
        "blocklist" => crate::blocklist::handle(shared, w, account, device, iq_id, node),
        "w:sync:app:state" => crate::appstate::handle_iq(w, account, node, shared.config.snapshots),
        "w:m" if first_child.as_deref() == Some("media_conn") => crate::media::media_conn(iq_id),
        "md" if first_child.as_deref() == Some("remove-companion-device") => {
            crate::pairing::remove_companion(w, account, node);
            iq_result(iq_id, vec![])
        }
        "privacy" => crate::blocklist::privacy(iq_id),
        "w" if first_child.as_deref() == Some("props") => iq_result(
            iq_id,
            vec![
                NodeBuilder::new("props")
                    .attr("protocol", "1")
                    .attr("hash", "wasim")
                    .build(),
            ],
        ),
        "abt" => iq_result(
            iq_id,
            vec![NodeBuilder::new("props").attr("protocol", "1").build()],
        ),
        // Anything else: what WhatsApp answers to a request it does not support.
        _ => w.unsupported_iq(account, xmlns, iq_id),
    })
}

/// Sends `msg` end-to-end encrypted from `from_phone`'s device 0 to one linked device
/// (queued while it is offline). Builds a session from the device's uploaded pre-keys
/// when there is none yet.
pub(crate) async fn send_encrypted(
    shared: &Shared,
    w: &mut World,
    from_phone: &str,
    account: &str,
    device: u16,
    msg: &wa::Message,
    extra: &[(&'static str, String)],
) -> anyhow::Result<()> {
    let addr = format!("{account}.{device}");
    let World {
        users, accounts, ..
    } = w;
    let user = users
        .get_mut(from_phone)
        .ok_or_else(|| anyhow::anyhow!("no user {from_phone}"))?;
    let dev = accounts
        .get_mut(account)
        .and_then(|a| a.devices.get_mut(&device))
        .ok_or_else(|| anyhow::anyhow!("no device {account}:{device}"))?;
    if !user.keys.has_session(&addr) {
        let (Some(reg), Some((spk_id, spk, sig))) =
            (dev.registration_id, dev.signed_prekey.clone())
        else {
            anyhow::bail!("device {account}:{device} has not uploaded pre-keys");
        };
        let bundle = crate::signal::Bundle {
            registration_id: reg,
            identity: dev.identity_pub,
            prekey: dev.prekeys.pop_front(),
            signed_prekey_id: spk_id,
            signed_prekey: spk,
            signed_prekey_sig: sig,
        };
        user.keys.start_session(&addr, device, &bundle).await?;
    }
    let plain = wacore::messages::MessageUtils::encode_and_pad(msg);
    let (kind, ct) = user.keys.encrypt(&addr, device, &plain).await?;
    let mut b = NodeBuilder::new("message")
        .attr("from", format!("{from_phone}@s.whatsapp.net"))
        .attr(
            "id",
            format!(
                "3EB0{:016X}",
                shared.next_id.fetch_add(1, Ordering::Relaxed)
            ),
        )
        .attr("t", wacore::time::now_secs().to_string())
        .attr("type", "text");
    for (k, v) in extra {
        b = b.attr(k, v.clone());
    }
    let n = b
        .children([NodeBuilder::new("enc")
            .attr("v", "2")
            .attr("type", kind)
            .bytes(ct)
            .build()])
        .build();
    w.deliver(account, device, n);
    Ok(())
}

/// The user causes an event that the accounts' linked devices see.
pub(crate) async fn push_event(
    shared: &Shared,
    user_phone: &str,
    event: UserEvent,
) -> anyhow::Result<()> {
    let phone = normalize_phone(user_phone);
    let mut w = shared.world.lock().await;
    if !w.users.contains_key(&phone) {
        anyhow::bail!("no user {phone}");
    }
    crate::events::user_event(shared, &mut w, &phone, event).await
}
