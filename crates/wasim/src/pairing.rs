//! Linking companions: QR pairing, pair-code linking, the 515 restart, and logout from
//! the client (remove-companion-device).

use crate::conn::{attr, be_uint, child_bytes, iq_error, iq_result, notification, stream_error};
use crate::directory::normalize_phone;
use crate::state::Shared;
use crate::state::{ConnId, Device, Out, PendingPairCode, World};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use std::collections::VecDeque;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use waproto::buffa::Message;
use waproto::whatsapp as wa;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What the unpaired connection told us in its registration payload.
#[derive(Clone, Debug)]
pub(crate) struct Registration {
    pub noise_pub: [u8; 32],
    pub identity_pub: [u8; 32],
    pub registration_id: u32,
    pub signed_prekey: Option<(u32, [u8; 32], Vec<u8>)>,
    /// Pair-success sent, waiting for pair-device-sign: (iq id, account, device id).
    pub pending_sign: Option<(String, String, u16)>,
}

/// A fresh unpaired connection: remember its keys and show it refs to put in QR codes.
pub(crate) fn start_registration(
    shared: &Shared,
    w: &mut World,
    conn: ConnId,
    noise_pub: [u8; 32],
    p: &wa::ClientPayload,
) {
    let d = &p.device_pairing_data;
    let identity_pub: [u8; 32] = d
        .e_ident
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 32]);
    let spk = match (&d.e_skey_id, &d.e_skey_val, &d.e_skey_sig) {
        (Some(id), Some(val), Some(sig)) => <[u8; 32]>::try_from(val.as_slice())
            .ok()
            .map(|v| (be_uint(id), v, sig.clone())),
        _ => None,
    };
    let reg = Registration {
        noise_pub,
        identity_pub,
        registration_id: d.e_regid.as_deref().map(be_uint).unwrap_or(0),
        signed_prekey: spk,
        pending_sign: None,
    };
    w.registrations.insert(conn, reg);
    let mut refs = Vec::new();
    for _ in 0..6 {
        let r = format!("2@wasim{}", shared.stanza_id().replace('.', ""));
        w.qr_refs.insert(r.clone(), (conn, noise_pub));
        refs.push(NodeBuilder::new("ref").bytes(r.into_bytes()).build());
    }
    let iq = NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "set")
        .attr("id", shared.stanza_id())
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-device").children(refs).build()])
        .build();
    w.send(conn, Out::Node(iq));
}

/// The phone of `account` scans `qr`.
pub(crate) async fn scan_qr(
    shared: &Shared,
    qr: &str,
    account: Option<&str>,
) -> anyhow::Result<()> {
    let body = qr.trim();
    let body = body
        .strip_prefix(wacore::companion_reg::NATIVE_CAMERA_DEEP_LINK_PREFIX)
        .unwrap_or(body);
    let parts: Vec<&str> = body.split(',').collect();
    if parts.len() < 4 {
        anyhow::bail!("not a WhatsApp QR string");
    }
    let pairing_ref = parts[0];
    let noise_pub: [u8; 32] = B64
        .decode(parts[1])?
        .try_into()
        .map_err(|_| anyhow::anyhow!("bad noise key"))?;
    let identity_pub: [u8; 32] = B64
        .decode(parts[2])?
        .try_into()
        .map_err(|_| anyhow::anyhow!("bad identity key"))?;
    let adv_secret = B64.decode(parts[3])?;
    let account = normalize_phone(account.unwrap_or(&shared.config.default_account));
    if account.is_empty() {
        anyhow::bail!("account must be a phone number");
    }
    let mut w = shared.world.lock().await;
    let Some((conn, conn_noise)) = w.qr_refs.get(pairing_ref).copied() else {
        anyhow::bail!("no connected client shows this QR code (unknown or expired ref)");
    };
    if conn_noise != noise_pub {
        anyhow::bail!("QR code does not match the client's noise key");
    }
    complete_pairing(shared, &mut w, conn, &account, identity_pub, &adv_secret)
}

/// Links the connection `conn` to `account`: pair-success with a signed device identity.
pub(crate) fn complete_pairing(
    shared: &Shared,
    w: &mut World,
    conn: ConnId,
    account: &str,
    identity_pub: [u8; 32],
    adv_secret: &[u8],
) -> anyhow::Result<()> {
    let Some(mut reg) = w.registrations.get(&conn).cloned() else {
        anyhow::bail!("client connection is gone");
    };
    if reg.pending_sign.is_some() {
        anyhow::bail!("this client is already being paired");
    }
    if identity_pub != reg.identity_pub && reg.identity_pub != [0; 32] {
        anyhow::bail!("identity key does not match the registration");
    }
    reg.identity_pub = identity_pub;
    let new = !w.accounts.contains_key(account);
    w.account_mut(account, &shared.config.default_push_name);
    if new {
        crate::appstate::seed_account(w, account);
    }
    // Ids only count up, as WhatsApp's: a removed companion's id is never given again.
    let acc = w.accounts.get_mut(account).expect("created above");
    let device_id = acc
        .devices
        .keys()
        .max()
        .copied()
        .unwrap_or(0)
        .max(acc.last_device_id)
        .saturating_add(1);
    acc.last_device_id = device_id;
    let lid = w.lid_of(account);
    let user = &w.users[account];

    // ADV: the account key signs the companion's identity; HMAC under the QR's secret.
    let details = wa::ADVDeviceIdentity {
        raw_id: Some(crate::usync::adv_raw_id(account)),
        timestamp: Some(wacore::time::now_secs() as u64),
        key_index: Some(u32::from(device_id)),
        account_type: Some(wa::ADVEncryptionType::E2EE),
        device_type: Some(wa::ADVEncryptionType::E2EE),
    }
    .encode_to_vec();
    let mut to_sign = vec![6u8, 0];
    to_sign.extend_from_slice(&details);
    to_sign.extend_from_slice(&identity_pub);
    let signed = wa::ADVSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(user.keys.identity_pub().to_vec()),
        account_signature: Some(user.keys.sign(&to_sign)),
        device_signature: None,
    }
    .encode_to_vec();
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(adv_secret)
        .map_err(|e| anyhow::anyhow!("adv secret: {e}"))?;
    mac.update(&signed);
    let hmac = mac.finalize().into_bytes().to_vec();
    let container = wa::ADVSignedDeviceIdentityHMAC {
        details: Some(signed),
        hmac: Some(hmac),
        account_type: Some(wa::ADVEncryptionType::E2EE),
    }
    .encode_to_vec();

    let iq_id = shared.stanza_id();
    let mut children = vec![
        NodeBuilder::new("device-identity").bytes(container).build(),
        NodeBuilder::new("device")
            .attr("jid", format!("{account}:{device_id}@s.whatsapp.net"))
            .attr("lid", format!("{lid}:{device_id}@lid"))
            .build(),
        NodeBuilder::new("platform").attr("name", "android").build(),
    ];
    if user.info.business == Some(true) {
        children.push(
            NodeBuilder::new("biz")
                .attr("name", user.info.verified_name.clone().unwrap_or_default())
                .build(),
        );
    }
    let iq = NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "set")
        .attr("id", iq_id.clone())
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-success").children(children).build()])
        .build();

    let acc = w.accounts.get_mut(account).expect("created above");
    acc.devices.insert(
        device_id,
        Device {
            id: device_id,
            noise_pub: reg.noise_pub,
            identity_pub,
            registration_id: Some(reg.registration_id),
            signed_prekey: reg.signed_prekey.clone(),
            prekeys: VecDeque::new(),
            prekeys_uploaded: 0,
            conn: None,
            key_shared: false,
            history_sent: false,
            pending: Vec::new(),
        },
    );
    reg.pending_sign = Some((iq_id, account.to_string(), device_id));
    w.registrations.insert(conn, reg);
    w.qr_refs.retain(|_, (c, _)| *c != conn);
    w.pair_codes.retain(|_, p| p.conn != conn);
    w.send(conn, Out::Node(iq));
    Ok(())
}

/// Responses the client sends to our IQs (pair-device ack, pair-device-sign).
pub(crate) fn on_iq_response(w: &mut World, conn: ConnId, node: &Node) {
    let id = attr(node, "id").unwrap_or_default();
    let Some(reg) = w.registrations.get(&conn) else {
        return;
    };
    let Some((pending, account, device)) = reg.pending_sign.clone() else {
        return;
    };
    if pending != id {
        return;
    }
    w.registrations.remove(&conn);
    if attr(node, "type").as_deref() == Some("error") {
        if let Some(a) = w.accounts.get_mut(&account) {
            a.devices.remove(&device);
        }
        w.send(conn, Out::Close);
        return;
    }
    // Linked: the client must reconnect and log in. Like the real server (a network
    // away), give the client time to finish persisting the pairing first: an instant
    // 515 races its pair-success handler and costs an extra reconnect.
    if let Some(tx) = w.conns.get(&conn).map(|c| c.tx.clone()) {
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let _ = tx.send(Out::NodeThenClose(stream_error("515")));
        });
    }
}

/// IQs from a connection that is not logged in.
pub(crate) fn handle_unpaired_iq(
    shared: &Shared,
    w: &mut World,
    conn: ConnId,
    xmlns: &str,
    iq_id: &str,
    node: &Node,
) -> Option<Node> {
    if xmlns == "md"
        && let Some(link) = node.get_optional_child("link_code_companion_reg")
    {
        return pair_code_request(shared, w, conn, iq_id, link);
    }
    if xmlns == "w:p" {
        return Some(iq_result(iq_id, vec![]));
    }
    Some(iq_error(iq_id, 501, "feature-not-implemented"))
}

/// `<iq xmlns="md"><remove-companion-device jid=.. reason=../>`: the companion logs out.
pub(crate) fn remove_companion(w: &mut World, account: &str, node: &Node) {
    let Some(rm) = node.get_optional_child("remove-companion-device") else {
        return;
    };
    let jid = attr(rm, "jid").unwrap_or_default();
    let dev: u16 = jid
        .split('@')
        .next()
        .and_then(|u| u.split(':').nth(1))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    if dev == 0 {
        return;
    }
    if let Some(d) = w
        .accounts
        .get_mut(account)
        .and_then(|a| a.devices.remove(&dev))
        && let Some(c) = d.conn
    {
        // The client disconnects itself; make sure the socket goes too.
        let tx = w.conns.get(&c).map(|c| c.tx.clone());
        if let Some(tx) = tx {
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                let _ = tx.send(Out::Close);
            });
        }
    }
}

/// `<link_code_companion_reg stage=companion_hello|companion_finish>` from an unpaired
/// companion.
pub(crate) fn pair_code_request(
    shared: &Shared,
    w: &mut World,
    conn: ConnId,
    iq_id: &str,
    link: &Node,
) -> Option<Node> {
    let phone = normalize_phone(&attr(link, "jid").unwrap_or_default());
    match attr(link, "stage").as_deref() {
        Some("companion_hello") => {
            let Some(wrapped) =
                child_bytes(link, "link_code_pairing_wrapped_companion_ephemeral_pub")
                    .filter(|b| b.len() == 80)
            else {
                return Some(iq_error(iq_id, 400, "bad-request"));
            };
            if phone.is_empty() {
                return Some(iq_error(iq_id, 400, "bad-request"));
            }
            let pairing_ref = format!("wasim-link-{}", shared.stanza_id().replace('.', ""));
            w.pair_codes.insert(
                phone,
                PendingPairCode {
                    conn,
                    pairing_ref: pairing_ref.clone(),
                    wrapped_companion_ephemeral: wrapped.to_vec(),
                    phone_side: None,
                },
            );
            Some(iq_result(
                iq_id,
                vec![
                    NodeBuilder::new("link_code_companion_reg")
                        .children([NodeBuilder::new("link_code_pairing_ref")
                            .bytes(pairing_ref.into_bytes())
                            .build()])
                        .build(),
                ],
            ))
        }
        Some("companion_finish") => companion_finish(shared, w, conn, &phone, iq_id, link),
        _ => Some(iq_error(iq_id, 400, "bad-request")),
    }
}

fn companion_finish(
    shared: &Shared,
    w: &mut World,
    conn: ConnId,
    phone: &str,
    iq_id: &str,
    link: &Node,
) -> Option<Node> {
    let Some(mut pending) = w.pair_codes.remove(phone).filter(|p| p.conn == conn) else {
        return Some(iq_error(iq_id, 404, "item-not-found"));
    };
    let Some(side) = pending.phone_side.take() else {
        w.pair_codes.insert(phone.to_string(), pending);
        return Some(iq_error(iq_id, 400, "bad-request"));
    };
    let result = (|| -> anyhow::Result<([u8; 32], [u8; 32])> {
        let bundle = child_bytes(link, "link_code_pairing_wrapped_key_bundle")
            .ok_or_else(|| anyhow::anyhow!("no key bundle"))?;
        if bundle.len() < 32 + 12 + 16 {
            anyhow::bail!("short key bundle");
        }
        let companion_eph = wacore::libsignal::protocol::PublicKey::from_djb_public_key_bytes(
            &side.companion_ephemeral,
        )?;
        let ephemeral_shared = side
            .primary_ephemeral
            .private_key
            .calculate_agreement(&companion_eph)?;
        let mut key = [0u8; 32];
        wacore::crypto::hkdf_sha256_into(
            &ephemeral_shared,
            Some(&bundle[..32]),
            b"link_code_pairing_key_bundle_encryption_key",
            &mut key,
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut plain = Vec::new();
        let iv: [u8; 12] = bundle[32..44].try_into()?;
        wacore::libsignal::crypto::aes_256_gcm_decrypt(&key, &iv, b"", &bundle[44..], &mut plain)
            .map_err(|_| anyhow::anyhow!("wrong pair code (key bundle does not decrypt)"))?;
        if plain.len() != 96 {
            anyhow::bail!("bad key bundle");
        }
        let companion_identity: [u8; 32] = plain[..32].try_into()?;
        let identity_shared = w
            .users
            .get(phone)
            .ok_or_else(|| anyhow::anyhow!("no account user"))?
            .keys
            .agree(&companion_identity)?;
        let mut combined = Vec::with_capacity(96);
        combined.extend_from_slice(&ephemeral_shared);
        combined.extend_from_slice(&identity_shared);
        combined.extend_from_slice(&plain[64..96]);
        let mut adv = [0u8; 32];
        wacore::crypto::hkdf_sha256_into(&combined, None, b"adv_secret", &mut adv)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok((companion_identity, adv))
    })();
    match result {
        Ok((identity, adv)) => {
            w.send(conn, Out::Node(iq_result(iq_id, vec![])));
            let r = complete_pairing(shared, w, conn, phone, identity, &adv);
            let _ = side.done.send(r);
            None
        }
        Err(e) => {
            // The phone may try again with the right code.
            w.pair_codes.insert(phone.to_string(), pending);
            let _ = side.done.send(Err(anyhow::anyhow!("{e}")));
            Some(iq_error(iq_id, 400, "bad-request"))
        }
    }
}

/// The phone of `account` enters the code its companion shows: primary_hello with our
/// wrapped ephemeral key and identity; resolves once the companion finished (or not).
pub(crate) async fn enter_pair_code(
    shared: &Shared,
    account: &str,
    code: &str,
) -> anyhow::Result<()> {
    let account = normalize_phone(account);
    let code: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !wacore::pair_code::PairCodeUtils::validate_code(&code) {
        anyhow::bail!("a pair code is 8 characters of 1-9 and A-Z without I, O, U");
    }
    let wrapped = {
        let w = shared.world.lock().await;
        let p = w
            .pair_codes
            .get(&account)
            .ok_or_else(|| anyhow::anyhow!("no companion is waiting for a code for {account}"))?;
        p.wrapped_companion_ephemeral.clone()
    };
    let code2 = code.clone();
    let (companion_ephemeral, primary_ephemeral, wrapped_primary) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let companion =
                wacore::pair_code::PairCodeUtils::decrypt_primary_ephemeral_pub(&wrapped, &code2)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let primary = wacore::libsignal::protocol::KeyPair::generate(&mut rand::rng());
            let pubkey: [u8; 32] = primary.public_key.public_key_bytes().try_into()?;
            let wrapped_primary =
                wacore::pair_code::PairCodeUtils::encrypt_ephemeral_pub(&pubkey, &code2);
            Ok((companion, primary, wrapped_primary))
        })
        .await??;
    let (tx, rx) = tokio::sync::oneshot::channel();
    {
        let mut w = shared.world.lock().await;
        let new = !w.accounts.contains_key(&account);
        w.account_mut(&account, &shared.config.default_push_name);
        if new {
            crate::appstate::seed_account(&mut w, &account);
        }
        let identity = w.users[&account].keys.identity_pub();
        let Some(p) = w.pair_codes.get_mut(&account) else {
            anyhow::bail!("the companion went away");
        };
        p.phone_side = Some(crate::state::PairCodePhoneSide {
            companion_ephemeral,
            primary_ephemeral,
            done: tx,
        });
        let n = notification(
            shared,
            "s.whatsapp.net",
            "link_code_companion_reg",
            vec![
                NodeBuilder::new("link_code_companion_reg")
                    .attr("stage", "primary_hello")
                    .children([
                        NodeBuilder::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                            .bytes(wrapped_primary.to_vec())
                            .build(),
                        NodeBuilder::new("primary_identity_pub")
                            .bytes(identity.to_vec())
                            .build(),
                        NodeBuilder::new("link_code_pairing_ref")
                            .bytes(p.pairing_ref.clone().into_bytes())
                            .build(),
                    ])
                    .build(),
            ],
        );
        let conn = p.conn;
        w.send(conn, Out::Node(n));
    }
    match tokio::time::timeout(std::time::Duration::from_secs(60), rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => anyhow::bail!("the companion went away"),
        Err(_) => anyhow::bail!("the companion did not finish linking"),
    }
}
