//! The backend's tricky semantics against a fresh SQLite file and a fresh PostgreSQL
//! database (the store's own pool and migrations), mirroring what whatsapp-rust relies on.

use std::sync::Arc;

use bytes::Bytes;
use wacontacts_core::session::SessionName;
use wacore::appstate::hash::HashState;
use wacore::appstate::processor::AppStateMutationMAC;
use wacore::store::Device;
use wacore::store::traits::*;

use super::{DeviceHandle, Devices};
use crate::test_support::Backend;

async fn devices(backend: Backend) -> (crate::testing::TestDatabase, Devices) {
    let (db, store) = crate::test_support::fresh_store(backend).await;
    (db, store.devices())
}

/// A handle whose account row exists, as after the client's first `Bot::build`.
async fn account(devices: &Devices, name: &str) -> DeviceHandle {
    let h = devices.handle(&SessionName::parse(name).unwrap());
    assert!(!h.exists().await.unwrap());
    h.create().await.unwrap();
    h
}

fn lid(lid: &str, pn: &str, updated_at: i64) -> LidPnMappingEntry {
    LidPnMappingEntry {
        lid: lid.into(),
        phone_number: pn.into(),
        created_at: updated_at,
        updated_at,
        learning_source: "usync".into(),
    }
}

async fn device_row_create_save_load_and_linked(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    let name = SessionName::parse("a").unwrap();
    assert!(h.exists().await.unwrap());
    assert!(
        !devices.is_linked(&name).await.unwrap(),
        "created, not linked"
    );
    let created = h.load().await.unwrap().expect("create persists a device");
    // A second create keeps the first keys.
    h.create().await.unwrap();
    let again = h.load().await.unwrap().unwrap();
    assert_eq!(
        created.identity_key.public_key.public_key_bytes(),
        again.identity_key.public_key.public_key_bytes()
    );

    let mut device = again;
    device.pn = Some("15551234567:3@s.whatsapp.net".parse().unwrap());
    device.push_name = "Alice".into();
    device.next_pre_key_id = 813;
    device.login_counter = 4;
    h.save(&device).await.unwrap();
    let loaded = h.load().await.unwrap().unwrap();
    assert_eq!(loaded.pn, device.pn);
    assert_eq!(loaded.push_name, "Alice");
    assert_eq!((loaded.next_pre_key_id, loaded.login_counter), (813, 4));
    assert_eq!(loaded.adv_secret_key, device.adv_secret_key);
    assert_eq!(
        loaded.noise_key.private_key.serialize(),
        device.noise_key.private_key.serialize()
    );
    assert_eq!(
        loaded.device_props.os.as_deref(),
        Some("rust"),
        "runtime props restored"
    );
    assert!(devices.is_linked(&name).await.unwrap());
    assert_eq!(devices.sessions().await.unwrap(), vec![name]);
}

async fn mark_prekeys_uploaded_never_inserts_and_batches_round_trip(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    let keys: Vec<(u32, Bytes)> = (1..=812)
        .map(|i| (i, Bytes::from(vec![i as u8; 70])))
        .collect();
    h.store_prekeys_batch(&keys, false).await.unwrap();
    assert_eq!(h.get_max_prekey_id().await.unwrap(), 812);
    h.remove_prekey(5).await.unwrap();
    let ids: Vec<u32> = (1..=900).collect();
    h.mark_prekeys_uploaded(&ids).await.unwrap();
    assert_eq!(
        h.load_prekey(5).await.unwrap(),
        None,
        "a consumed key stays gone"
    );
    assert_eq!(h.load_prekey(813).await.unwrap(), None, "no key invented");
    let loaded = h.load_prekeys_batch(&ids).await.unwrap();
    assert_eq!(loaded.len(), 811);
    assert!(loaded.iter().all(|(id, rec)| rec[..] == [*id as u8; 70]));
    let uploaded: i64 = on_pool!(&devices.pool, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM wa_prekeys WHERE uploaded = 1"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!(uploaded, 811);
    assert_eq!(h.load_prekeys_batch(&[]).await.unwrap(), vec![]);
}

async fn take_sent_message_serves_once_even_concurrently(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    h.store_sent_message("1@s.whatsapp.net", "M1", b"payload")
        .await
        .unwrap();
    let takes = (0..8).map(|_| {
        let h = h.clone();
        tokio::spawn(async move { h.take_sent_message("1@s.whatsapp.net", "M1").await.unwrap() })
    });
    let mut served = 0;
    for t in takes {
        if let Some(p) = t.await.unwrap() {
            assert_eq!(p, b"payload");
            served += 1;
        }
    }
    assert_eq!(served, 1, "exactly one retry gets the message");
    // Stamped in seconds: a cutoff in the future sweeps it, one in the past does not.
    h.store_sent_message("1@s.whatsapp.net", "M2", b"p")
        .await
        .unwrap();
    assert_eq!(h.delete_expired_sent_messages(0).await.unwrap(), 0);
    let later = wacore::time::now_secs() + 10;
    assert_eq!(h.delete_expired_sent_messages(later).await.unwrap(), 1);
}

async fn tc_tokens_newer_wins_and_sender_timestamp_only_moves_forward(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    let jid = "15551234567@s.whatsapp.net";
    // A touch on a missing row: empty token stamped ts.
    h.touch_tc_token_sender_timestamp(jid, 100).await.unwrap();
    let t = h.get_tc_token(jid).await.unwrap().unwrap();
    assert!(t.token.is_empty());
    assert_eq!((t.token_timestamp, t.sender_timestamp), (100, Some(100)));
    // The first real token beats the placeholder even when older.
    h.store_received_tc_token(jid, b"tok50", 50).await.unwrap();
    let t = h.get_tc_token(jid).await.unwrap().unwrap();
    assert_eq!((t.token.as_slice(), t.token_timestamp), (&b"tok50"[..], 50));
    assert_eq!(t.sender_timestamp, Some(100), "kept");
    // Older loses; equal or newer wins.
    h.store_received_tc_token(jid, b"old", 40).await.unwrap();
    assert_eq!(h.get_tc_token(jid).await.unwrap().unwrap().token, b"tok50");
    h.store_received_tc_token(jid, b"new", 60).await.unwrap();
    assert_eq!(h.get_tc_token(jid).await.unwrap().unwrap().token, b"new");
    // Sender timestamp: max, token untouched.
    h.touch_tc_token_sender_timestamp(jid, 90).await.unwrap();
    h.touch_tc_token_sender_timestamp(jid, 120).await.unwrap();
    let t = h.get_tc_token(jid).await.unwrap().unwrap();
    assert_eq!(
        (t.token.as_slice(), t.sender_timestamp),
        (&b"new"[..], Some(120))
    );
    // A fresh token from a new jid keeps sender_timestamp NULL.
    h.store_received_tc_token("2@s.whatsapp.net", b"x", 10)
        .await
        .unwrap();
    let t = h.get_tc_token("2@s.whatsapp.net").await.unwrap().unwrap();
    assert_eq!(t.sender_timestamp, None);
    // Two windows: both must be old. jid: token 60 (<70) but sender 120 (>=110) stays;
    // the other: token 10 < 70 and no sender timestamp goes.
    assert_eq!(h.delete_expired_tc_tokens(70, 110).await.unwrap(), 1);
    assert_eq!(
        h.get_all_tc_token_jids().await.unwrap(),
        vec![jid.to_string()]
    );
}

async fn msg_secrets_merge_expiry_and_timestamps(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    let entry = |secret: u8, expires_at, message_ts| MsgSecretEntry {
        chat: Arc::from("c@s.whatsapp.net"),
        sender: Arc::from("s@s.whatsapp.net"),
        msg_id: Arc::from("M"),
        secret: [secret; 32],
        expires_at,
        message_ts,
    };
    assert_eq!(h.put_msg_secrets(vec![entry(1, 500, 10)]).await.unwrap(), 1);
    h.put_msg_secrets(vec![entry(2, 400, 5)]).await.unwrap();
    let (secret, ts) = h
        .get_msg_secret_with_ts("c@s.whatsapp.net", "s@s.whatsapp.net", "M")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((secret, ts), (vec![2; 32], 10), "secret replaced, ts max");
    // Expiry max: 500 survives a cutoff of 450.
    assert_eq!(h.delete_expired_msg_secrets(450).await.unwrap(), 0);
    // 0 ("never") wins over any expiry and is never swept.
    h.put_msg_secrets(vec![entry(3, 0, 1)]).await.unwrap();
    h.put_msg_secrets(vec![entry(3, 900, 1)]).await.unwrap();
    assert_eq!(h.delete_expired_msg_secrets(i64::MAX).await.unwrap(), 0);
    assert!(
        h.get_msg_secret("c@s.whatsapp.net", "s@s.whatsapp.net", "M")
            .await
            .unwrap()
            .is_some()
    );
}

async fn app_state_version_defaults_macs_and_latest_key(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    let v = h.get_version("critical_unblock_low").await.unwrap();
    assert_eq!(v.version, 0, "absent -> default");
    let state = HashState {
        version: u64::from(u32::MAX) + 7,
        hash: [9; 128],
        ..Default::default()
    };
    h.set_version("regular", state).await.unwrap();
    let back = h.get_version("regular").await.unwrap();
    assert_eq!(
        (back.version, back.hash),
        (u64::from(u32::MAX) + 7, [9; 128])
    );

    let macs: Vec<AppStateMutationMAC> = (0..600u16)
        .map(|i| AppStateMutationMAC {
            index_mac: [&i.to_be_bytes()[..], &[0; 30]].concat(),
            value_mac: vec![1; 32],
        })
        .collect();
    h.put_mutation_macs("regular", 1, &macs).await.unwrap();
    let wanted: Vec<[u8; 32]> = macs[..300]
        .iter()
        .map(|m| m.index_mac.clone().try_into().unwrap())
        .collect();
    assert_eq!(
        h.get_mutation_macs("regular", &wanted).await.unwrap().len(),
        300
    );
    assert!(
        h.get_mutation_macs("regular_low", &wanted)
            .await
            .unwrap()
            .is_empty()
    );
    let doomed: Vec<Vec<u8>> = macs[..100].iter().map(|m| m.index_mac.clone()).collect();
    h.delete_mutation_macs("regular", &doomed).await.unwrap();
    assert_eq!(
        h.get_mutation_macs("regular", &wanted).await.unwrap().len(),
        200
    );
    assert_eq!(
        h.get_mutation_mac("regular", &macs[200].index_mac)
            .await
            .unwrap(),
        Some(vec![1; 32])
    );

    assert_eq!(h.get_latest_sync_key_id().await.unwrap(), None);
    let key = |t| AppStateSyncKey {
        key_data: vec![7; 32],
        fingerprint: vec![1],
        timestamp: t,
    };
    h.set_sync_key(b"\x00\x09", key(1)).await.unwrap();
    h.set_sync_key(b"\x00\x02", key(2)).await.unwrap();
    assert_eq!(
        h.get_latest_sync_key_id().await.unwrap(),
        Some(b"\x00\x02".to_vec())
    );
    assert_eq!(
        h.get_sync_key(b"\x00\x09")
            .await
            .unwrap()
            .unwrap()
            .timestamp,
        1
    );
}

async fn signal_prefix_lookup_and_lid_mappings(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    h.put_sessions_batch(&[(
        Arc::from("5511987650001:3@c.us.0"),
        Bytes::from_static(b"s"),
    )])
    .await
    .unwrap();
    h.put_identity("100000012345678@lid.0", [4; 32])
        .await
        .unwrap();
    assert!(h.has_signal_state_for_user("5511987650001").await.unwrap());
    assert!(
        h.has_signal_state_for_user("100000012345678")
            .await
            .unwrap()
    );
    assert!(
        !h.has_signal_state_for_user("551198765000").await.unwrap(),
        "prefix of a user"
    );
    assert!(h.has_session("5511987650001:3@c.us.0").await.unwrap());
    assert_eq!(
        h.load_identity("100000012345678@lid.0").await.unwrap(),
        Some([4; 32])
    );

    h.put_lid_mappings(&[lid("111", "155", 10), lid("222", "155", 20)])
        .await
        .unwrap();
    assert_eq!(
        h.get_pn_mapping("155").await.unwrap().unwrap().lid,
        "222",
        "newest"
    );
    h.put_lid_mapping(&lid("111", "166", 30)).await.unwrap();
    let m = h.get_lid_mapping("111").await.unwrap().unwrap();
    assert_eq!(
        (m.phone_number.as_str(), m.created_at, m.updated_at),
        ("166", 10, 30)
    );
}

async fn sessions_never_see_each_others_rows_and_wipe_deletes_all(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let a = account(&devices, "a").await;
    let b = account(&devices, "b").await;
    a.store_prekeys_batch(
        &[
            (1, Bytes::from_static(b"a1")),
            (900, Bytes::from_static(b"a9")),
        ],
        false,
    )
    .await
    .unwrap();
    b.store_prekeys_batch(&[(1, Bytes::from_static(b"b1"))], false)
        .await
        .unwrap();
    assert_eq!(a.get_max_prekey_id().await.unwrap(), 900);
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 1);
    assert_eq!(
        b.load_prekey(1).await.unwrap().unwrap(),
        Bytes::from_static(b"b1")
    );
    a.put_lid_mapping(&lid("1", "11", 1)).await.unwrap();
    b.put_lid_mapping(&lid("2", "22", 1)).await.unwrap();
    let all_b = b.get_all_lid_mappings().await.unwrap();
    assert_eq!(
        all_b.iter().map(|m| m.lid.as_str()).collect::<Vec<_>>(),
        vec!["2"]
    );
    a.put_session("x@c.us.0", b"a").await.unwrap();
    a.set_sync_key(b"k", AppStateSyncKey::default())
        .await
        .unwrap();
    a.store_sent_message("c", "m", b"p").await.unwrap();
    a.put_msg_secret("c", "s", "m", &[1; 32]).await.unwrap();
    a.update_device_list(DeviceListRecord {
        user: "11".into(),
        devices: vec![DeviceInfo::new(0, None)],
        timestamp: i64::from(i32::MAX) + 1,
        phash: None,
        raw_id: Some(3),
    })
    .await
    .unwrap();
    assert_eq!(
        a.get_devices("11").await.unwrap().unwrap().timestamp,
        i64::from(i32::MAX) + 1
    );
    assert!(b.get_devices("11").await.unwrap().is_none());
    assert!(b.get_session("x@c.us.0").await.unwrap().is_none());
    assert!(b.get_latest_sync_key_id().await.unwrap().is_none());

    devices
        .wipe(&SessionName::parse("a").unwrap())
        .await
        .unwrap();
    for table in [
        "wa_device",
        "wa_identities",
        "wa_sessions",
        "wa_prekeys",
        "wa_signed_prekeys",
        "wa_sender_keys",
        "wa_app_state_keys",
        "wa_app_state_versions",
        "wa_app_state_macs",
        "wa_lid_pn",
        "wa_base_keys",
        "wa_device_lists",
        "wa_sender_key_devices",
        "wa_tc_tokens",
        "wa_sent_messages",
        "wa_group_metadata",
        "wa_msg_secrets",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE session = 'a'");
        let left: i64 = on_pool!(&devices.pool, |pool| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(left, 0, "{table} keeps rows of a wiped session");
    }
    assert!(!a.exists().await.unwrap());
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 1, "b untouched");
    // A write after the wipe cannot resurrect rows without an account row.
    assert!(a.put_session("y@c.us.0", b"a").await.is_err());
}

async fn a_closed_handle_refuses_calls(backend: Backend) {
    let (_dir, devices) = devices(backend).await;
    let h = account(&devices, "a").await;
    let clone = h.clone();
    h.close();
    assert!(clone.save(&Device::new()).await.is_err());
    assert!(clone.get_max_prekey_id().await.is_err());
    // A new handle for the next client works.
    let fresh = devices.handle(&SessionName::parse("a").unwrap());
    assert!(fresh.exists().await.unwrap());
}

both_backends!(
    device_row_create_save_load_and_linked,
    mark_prekeys_uploaded_never_inserts_and_batches_round_trip,
    take_sent_message_serves_once_even_concurrently,
    tc_tokens_newer_wins_and_sender_timestamp_only_moves_forward,
    msg_secrets_merge_expiry_and_timestamps,
    app_state_version_defaults_macs_and_latest_key,
    signal_prefix_lookup_and_lid_mappings,
    sessions_never_see_each_others_rows_and_wipe_deletes_all,
    a_closed_handle_refuses_calls,
);
