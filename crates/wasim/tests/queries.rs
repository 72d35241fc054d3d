//! What a linked client asks: usync (contact in/out, LID, about, picture, business,
//! devices) in batches of any size, profile pictures, blocklist, and the stats the
//! anti-ban tests read.

mod common;

use common::*;
use wasim::{DirectoryUser, Fault};
use whatsapp_rust::Jid;

fn pn(p: &str) -> Jid {
    format!("{p}@s.whatsapp.net").parse().unwrap()
}

fn seed() -> Vec<DirectoryUser> {
    vec![
        DirectoryUser {
            phone: "15550001001".into(),
            lid: Some("900000000001001".into()),
            push_name: Some("Alice".into()),
            about: Some("Hey there, Alice here".into()),
            picture_id: Some("1700000001".into()),
            picture_url: Some("https://pps.example/alice.jpg".into()),
            ..Default::default()
        },
        DirectoryUser {
            phone: "15550001002".into(),
            about: Some("secret".into()),
            about_hidden: Some(true),
            picture_id: Some("1700000002".into()),
            picture_hidden: Some(true),
            ..Default::default()
        },
        DirectoryUser {
            phone: "15550001003".into(),
            business: Some(true),
            verified_name: Some("Acme Inc".into()),
            devices: Some(vec![0, 3]),
            ..Default::default()
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usync_picture_blocklist_and_stats() {
    let wasim = start_wasim().await;
    wasim.upsert_users(seed()).await.unwrap();
    let mut c = linked_client(&wasim, "15551230010").await;
    let contacts = c.client.contacts();

    // usync: in/out, LID, business; one query for the whole batch.
    let mut batch = vec![pn("15550001001"), pn("15550001003"), pn("15559999999")];
    for i in 0..300 {
        batch.push(pn(&format!("1666000{i:04}")));
    }
    let before = wasim.stats().await;
    let before_usync = before
        .accounts
        .get("15551230010")
        .and_then(|a| a.iq.get("usync").copied())
        .unwrap_or(0);
    let res = contacts.is_on_whatsapp(&batch).await.unwrap();
    assert_eq!(res.len(), batch.len());
    let alice = res.iter().find(|r| r.jid.user == "15550001001").unwrap();
    assert!(alice.is_registered);
    assert_eq!(
        alice.lid.as_ref().map(|l| l.user.to_string()),
        Some("900000000001001".into())
    );
    assert!(!alice.is_business);
    let acme = res.iter().find(|r| r.jid.user == "15550001003").unwrap();
    assert!(acme.is_registered && acme.is_business);
    assert_eq!(
        acme.verified_name
            .as_ref()
            .and_then(|v| v.name.clone())
            .as_deref(),
        Some("Acme Inc")
    );
    let nobody = res.iter().find(|r| r.jid.user == "15559999999").unwrap();
    assert!(!nobody.is_registered);

    let stats = wasim.stats().await;
    let acc = &stats.accounts["15551230010"];
    assert_eq!(acc.iq["usync"], before_usync + 1, "one usync for the batch");
    assert!(acc.usync_users >= batch.len() as u64);

    // A Brazilian number asked without its 9th digit answers as registered (with it).
    wasim
        .upsert_users(vec![DirectoryUser::new("5511987654321")])
        .await
        .unwrap();
    let br = contacts
        .is_on_whatsapp(&[pn("551187654321")])
        .await
        .unwrap();
    assert!(br[0].is_registered);
    assert_eq!(br[0].jid.user, "5511987654321");

    // LID lookups answer with the phone number.
    let by_lid: Jid = "900000000001001@lid".parse().unwrap();
    let res = contacts
        .is_on_whatsapp(std::slice::from_ref(&by_lid))
        .await
        .unwrap();
    assert_eq!(
        res[0].pn_jid.as_ref().map(|j| j.user.to_string()),
        Some("15550001001".into())
    );

    // User info: about, picture id, devices; a hidden about comes back as WhatsApp
    // sends it (`<status code="401"/>`): an empty about, not an error.
    let info = contacts
        .get_user_info(&[pn("15550001001"), pn("15550001002"), pn("15550001003")])
        .await
        .unwrap();
    let a = &info[&pn("15550001001")];
    assert_eq!(a.status.as_deref(), Some("Hey there, Alice here"));
    assert_eq!(a.picture_id.as_deref(), Some("1700000001"));
    let b = &info[&pn("15550001002")];
    assert_eq!(b.status.as_deref(), Some(""));
    assert!(b.status_error.is_none(), "{:?}", b.status_error);
    let acme = &info[&pn("15550001003")];
    assert!(acme.is_business);
    assert_eq!(acme.devices, vec![0, 3]);

    // Profile pictures: preview and full, 404 and 401 as None.
    let full = contacts
        .get_profile_picture(&pn("15550001001"), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full.id, "1700000001");
    assert_eq!(full.url, "https://pps.example/alice.jpg");
    let preview = contacts
        .get_profile_picture(&pn("15550001001"), true)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(preview.url, full.url);
    assert!(
        contacts
            .get_profile_picture(&pn("15550001002"), false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        contacts
            .get_profile_picture(&pn("15550001003"), true)
            .await
            .unwrap()
            .is_none()
    );

    // Blocklist set and get.
    let blocking = c.client.blocking();
    blocking.block(&pn("15550001001")).await.unwrap();
    let list = blocking.get_blocklist().await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(blocking.is_blocked(&pn("15550001001")).await.unwrap());
    blocking.unblock(&pn("15550001001")).await.unwrap();
    assert!(blocking.get_blocklist().await.unwrap().is_empty());

    // 429 from usync surfaces as an error, not a hang.
    wasim
        .fault(Fault::UsyncRateLimit {
            count: Some(1),
            account: None,
        })
        .await
        .unwrap();
    let err = tokio::time::timeout(T, contacts.is_on_whatsapp(&[pn("15550001001")]))
        .await
        .expect("no hang")
        .expect_err("429 is an error");
    assert!(format!("{err:?}").contains("429"), "{err:?}");
    assert!(contacts.is_on_whatsapp(&[pn("15550001001")]).await.unwrap()[0].is_registered);

    let stats = wasim.stats().await;
    let acc = &stats.accounts["15551230010"];
    assert!(acc.iq["w:profile:picture"] >= 4);
    assert!(acc.iq["blocklist"] >= 3);
    c.stop().await;
    wasim.shutdown().await;
}
