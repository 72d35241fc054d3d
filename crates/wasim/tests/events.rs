//! Events pushed on command, each seen by the client as the matching whatsapp-rust Event.

mod common;

use common::*;
use wasim::{DirectoryUser, UserEvent};
use whatsapp_rust::types::events::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_events_arrive_as_client_events() {
    let wasim = start_wasim().await;
    wasim
        .upsert_users(vec![DirectoryUser {
            phone: "15550003001".into(),
            lid: Some("900000000003001".into()),
            push_name: Some("Old Name".into()),
            ..Default::default()
        }])
        .await
        .unwrap();
    let mut c = linked_client(&wasim, "15551230030").await;

    // Push name: an incoming message with notify.
    wasim
        .push_event(
            "15550003001",
            UserEvent::PushName {
                push_name: "Alice Push".into(),
            },
        )
        .await
        .unwrap();
    let (name, text) = c
        .wait_for("message with push name", |e| match e {
            Event::Messages(b) => b
                .messages
                .first()
                .map(|m| (m.info.push_name.clone(), m.message.conversation.clone())),
            _ => None,
        })
        .await;
    assert_eq!(name, "Alice Push");
    assert!(text.is_some());

    // Picture changed.
    wasim
        .push_event(
            "15550003001",
            UserEvent::Picture {
                picture_id: Some("1700000777".into()),
                picture_url: None,
            },
        )
        .await
        .unwrap();
    let (user, id) = c
        .wait_for("PictureUpdate", |e| match e {
            Event::PictureUpdate(p) => Some((p.jid.user.to_string(), p.picture_id.clone())),
            _ => None,
        })
        .await;
    assert_eq!(
        (user.as_str(), id.as_deref()),
        ("15550003001", Some("1700000777"))
    );
    let pic = c
        .client
        .contacts()
        .get_profile_picture(&"15550003001@s.whatsapp.net".parse().unwrap(), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pic.id, "1700000777");

    // About changed.
    wasim
        .push_event(
            "15550003001",
            UserEvent::About {
                about: "At the gym".into(),
            },
        )
        .await
        .unwrap();
    let status = c
        .wait_for("UserAboutUpdate", |e| match e {
            Event::UserAboutUpdate(u) => Some(u.status.clone()),
            _ => None,
        })
        .await;
    assert_eq!(status, "At the gym");

    // Identity changed (the client already knows the old key from the message above).
    wasim
        .push_event("15550003001", UserEvent::Identity)
        .await
        .unwrap();
    let implicit = c
        .wait_for("IdentityChange", |e| match e {
            Event::IdentityChange(i) => Some(i.implicit),
            _ => None,
        })
        .await;
    assert!(!implicit);

    // Number changed: same LID, new phone.
    wasim
        .push_event(
            "15550003001",
            UserEvent::NumberChange {
                new_phone: "15550003999".into(),
            },
        )
        .await
        .unwrap();
    let (old, new, lid) = c
        .wait_for("ContactNumberChanged", |e| match e {
            Event::ContactNumberChanged(n) => Some((
                n.old_jid.user.to_string(),
                n.new_jid.user.to_string(),
                n.new_lid.as_ref().map(|l| l.user.to_string()),
            )),
            _ => None,
        })
        .await;
    assert_eq!(old, "15550003001");
    assert_eq!(new, "15550003999");
    assert_eq!(lid.as_deref(), Some("900000000003001"));
    let res = c
        .client
        .contacts()
        .is_on_whatsapp(&["15550003999@s.whatsapp.net".parse().unwrap()])
        .await
        .unwrap();
    assert!(res[0].is_registered);
    c.stop().await;
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_change_for_a_user_never_seen_before() {
    let wasim = start_wasim().await;
    wasim
        .upsert_users(vec![DirectoryUser::new("15550003002")])
        .await
        .unwrap();
    let mut c = linked_client(&wasim, "15551230031").await;
    wasim
        .push_event("15550003002", UserEvent::Identity)
        .await
        .unwrap();
    c.wait_for("IdentityChange", |e| {
        matches!(e, Event::IdentityChange(_)).then_some(())
    })
    .await;
    c.stop().await;
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_while_offline_arrive_after_the_next_login() {
    let wasim = start_wasim().await;
    wasim
        .upsert_users(vec![DirectoryUser {
            phone: "15550003010".into(),
            push_name: Some("Frank".into()),
            ..Default::default()
        }])
        .await
        .unwrap();
    let backend = memory_backend();
    let mut c = spawn_client(&wasim, backend.clone()).await;
    let qr = c.qr().await;
    wasim.scan_qr(&qr, Some("15551230032")).await.unwrap();
    c.connected().await;
    c.stop().await;
    wait_offline(&wasim, "15551230032").await;

    wasim
        .push_event(
            "15550003010",
            UserEvent::About {
                about: "Offline about".into(),
            },
        )
        .await
        .unwrap();
    wasim
        .push_event(
            "15550003010",
            UserEvent::PushName {
                push_name: "Frankie".into(),
            },
        )
        .await
        .unwrap();
    wasim
        .add_contact(
            "15551230032",
            wasim::AddressBookContact {
                phone: "15550003010".into(),
                full_name: Some("Frank Offline".into()),
                first_name: None,
            },
        )
        .await
        .unwrap();

    let mut c = spawn_client(&wasim, backend).await;
    let mut about = None;
    let mut push = None;
    let mut contact = None;
    while about.is_none() || push.is_none() || contact.is_none() {
        match &c.wait_for("offline events", |e| Some(e.clone())).await {
            Event::UserAboutUpdate(u) => about = Some(u.status.clone()),
            Event::Messages(b) => push = b.messages.first().map(|m| m.info.push_name.clone()),
            Event::ContactUpdate(u) => contact = u.action.full_name.clone(),
            _ => {}
        }
    }
    assert_eq!(about.as_deref(), Some("Offline about"));
    assert_eq!(push.as_deref(), Some("Frankie"));
    assert_eq!(contact.as_deref(), Some("Frank Offline"));
    c.stop().await;
    wasim.shutdown().await;
}
