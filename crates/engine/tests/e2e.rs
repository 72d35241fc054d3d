//! The engine with the real whatsapp-rust client against an in-process wasim on
//! 127.0.0.1:0: linking by QR and by pair code, login with stored keys after a
//! restart, reconnect after a dropped connection, logout from the API and from the
//! phone, contact events into the sink, and Directory calls.
//!
//! Every wait is bounded: a failure fails, it does not hang.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactEventSink, DirectoryError, StoreResult};
use wacontacts_core::session::{SessionName, SessionStatus};
use wacontacts_engine::{Engine, EngineConfig, StatusChange};
use wacontacts_store::testing::{Backend, TestDatabase};
use wasim::{AddressBookContact, DirectoryUser, Fault, UserEvent, Wasim, WasimConfig};

const T: Duration = Duration::from_secs(30);

/// What the engine told the sink, as text, in order.
#[derive(Default)]
struct Recorder {
    facts: Mutex<Vec<String>>,
}

impl Recorder {
    fn push(&self, fact: String) {
        self.facts.lock().unwrap().push(fact);
    }

    fn all(&self) -> Vec<String> {
        self.facts.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            if let Some(found) = self.all().into_iter().find(|s| f(s)) {
                return found;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for sink fact {what}; got {:#?}",
                    self.all()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[async_trait]
impl ContactEventSink for Recorder {
    async fn address_book_contact(&self, s: &SessionName, e: AddressBookEntry) -> StoreResult<()> {
        self.push(format!(
            "{s} contact {} phone={:?} lid={:?} full={:?} first={:?}",
            e.who,
            e.phone.map(|p| p.to_string()),
            e.lid.map(|l| l.to_string()),
            e.full_name,
            e.first_name
        ));
        Ok(())
    }
    async fn push_name(&self, s: &SessionName, who: &ContactRef, name: &str) -> StoreResult<()> {
        self.push(format!("{s} push_name {who} {name}"));
        Ok(())
    }
    async fn lid_mapping(&self, s: &SessionName, lid: &Lid, pn: &PhoneNumber) -> StoreResult<()> {
        self.push(format!("{s} lid {lid} {pn}"));
        Ok(())
    }
    async fn picture_changed(
        &self,
        s: &SessionName,
        who: &ContactRef,
        id: Option<&str>,
    ) -> StoreResult<()> {
        self.push(format!("{s} picture {who} {id:?}"));
        Ok(())
    }
    async fn about_changed(
        &self,
        s: &SessionName,
        who: &ContactRef,
        about: &str,
    ) -> StoreResult<()> {
        self.push(format!("{s} about {who} {about}"));
        Ok(())
    }
    async fn identity_changed(
        &self,
        s: &SessionName,
        who: &ContactRef,
        implicit: bool,
        _: i64,
        key: Option<[u8; 32]>,
    ) -> StoreResult<()> {
        let key = key.is_some();
        self.push(format!("{s} identity {who} key={key} implicit={implicit}"));
        Ok(())
    }
    async fn number_changed(&self, s: &SessionName, c: NumberChange) -> StoreResult<()> {
        self.push(format!(
            "{s} number {} -> {} lid={:?}",
            c.old_phone,
            c.new_phone,
            c.lid.map(|l| l.to_string())
        ));
        Ok(())
    }
    async fn blocklist_changed(&self, s: &SessionName, u: BlocklistUpdate) -> StoreResult<()> {
        match u {
            BlocklistUpdate::Full(list) => self.push(format!(
                "{s} blocklist full [{}]",
                list.iter()
                    .map(|e| e.who.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            BlocklistUpdate::Changed { who, blocked } => {
                self.push(format!("{s} blocklist {who} blocked={blocked}"))
            }
        }
        Ok(())
    }
    async fn business_changed(
        &self,
        s: &SessionName,
        who: &ContactRef,
        is_business: bool,
        name: Option<&str>,
    ) -> StoreResult<()> {
        self.push(format!("{s} business {who} {is_business} {name:?}"));
        Ok(())
    }
    async fn own_push_name(&self, s: &SessionName, name: &str) -> StoreResult<()> {
        self.push(format!("{s} own_push_name {name}"));
        Ok(())
    }
}

struct Fixture {
    wasim: Wasim,
    dir: tempfile::TempDir,
    sink: Arc<Recorder>,
    /// The PostgreSQL database of [`Self::on_postgres`]; `None`: the SQLite file in
    /// the data dir.
    postgres: Option<TestDatabase>,
}

impl Fixture {
    async fn new() -> Self {
        let wasim = Wasim::start("127.0.0.1:0".parse().unwrap(), WasimConfig::default())
            .await
            .expect("wasim starts");
        Self {
            wasim,
            dir: tempfile::tempdir().unwrap(),
            sink: Arc::new(Recorder::default()),
            postgres: None,
        }
    }

    /// [`Self::new`] with the database on a fresh PostgreSQL database (the server of
    /// `scripts/postgres.sh`; without `WACONTACTS_TEST_POSTGRES_URL` this fails).
    async fn on_postgres() -> Self {
        let db = TestDatabase::new(Backend::Postgres)
            .await
            .expect("a PostgreSQL test database (run the tests with scripts/test)");
        Self {
            postgres: Some(db),
            ..Self::new().await
        }
    }

    /// An engine as a (re)started server builds it: the database in the data dir
    /// opened afresh, device state in it.
    async fn engine(&self) -> Engine {
        self.engine_with(|_| {}).await
    }

    /// [`Self::engine`] with settings changed by `tune`.
    async fn engine_with(&self, tune: impl FnOnce(&mut EngineConfig)) -> Engine {
        let store = match &self.postgres {
            Some(db) => wacontacts_store::Store::open(db.url()).await,
            None => wacontacts_store::Store::open_in_dir(self.dir.path()).await,
        }
        .expect("store opens");
        let mut config = EngineConfig::new(self.dir.path());
        config.whatsapp_url = Some(self.wasim.ws_url());
        config.client_version = Some((2, 3000, 1_000_000_000));
        config.pre_key_count = Some(50);
        config.call_timeout = Duration::from_secs(10);
        config.connect_timeout = Duration::from_secs(10);
        tune(&mut config);
        Engine::new(config, self.sink.clone(), store.devices())
    }
}

fn name(s: &str) -> SessionName {
    SessionName::parse(s).unwrap()
}

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(T, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls until the session has `status`; returns its reason.
async fn wait_status(engine: &Engine, s: &SessionName, status: SessionStatus) -> Option<String> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let state = engine.state(s);
        if state.status == status {
            return state.reason;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {s} to be {status:?}; it is {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `s`, scans its QR as `account`, waits for WORKING.
async fn link_by_qr(fx: &Fixture, engine: &Engine, s: &SessionName, account: &str) {
    within("start", engine.start(s)).await.unwrap();
    wait_status(engine, s, SessionStatus::ScanQrCode).await;
    let qr = engine.qr(s).expect("a QR while SCAN_QR_CODE");
    assert!(qr.contains(','), "raw QR is ref,noise,identity,adv: {qr}");
    within("scan", fx.wasim.scan_qr(&qr, Some(account)))
        .await
        .expect("wasim scans");
    wait_status(engine, s, SessionStatus::Working).await;
}

fn statuses_of(rx: &mut tokio::sync::broadcast::Receiver<StatusChange>) -> Vec<SessionStatus> {
    let mut out = Vec::new();
    while let Ok(change) = rx.try_recv() {
        out.push(change.state.status);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_link_reconnect_and_restart_without_scan() {
    let fx = Fixture::new().await;
    let engine = fx.engine().await;
    let s = name("alpha");
    let mut rx = engine.subscribe();
    let mut qrs = engine.subscribe_qr();

    link_by_qr(&fx, &engine, &s, "15551240001").await;
    let me = engine.state(&s).me.expect("me once WORKING");
    assert_eq!(me.id, "15551240001@c.us");
    assert!(me.jid.starts_with("15551240001:"), "{}", me.jid);
    assert!(me.lid.as_deref().is_some_and(|l| l.ends_with("@lid")));
    assert_eq!(engine.qr(&s), None, "no QR once linked");
    let shown = qrs.try_recv().expect("the QR was broadcast");
    assert_eq!(shown.session, s);
    assert!(shown.code.contains(','));
    let seen = statuses_of(&mut rx);
    assert_eq!(seen.first(), Some(&SessionStatus::Starting));
    assert!(seen.contains(&SessionStatus::ScanQrCode));
    assert_eq!(seen.last(), Some(&SessionStatus::Working));
    // Our own LID mapping and the (empty) blocklist reach the sink.
    fx.sink
        .wait_for("own lid", |f| {
            f.starts_with("alpha lid ") && f.ends_with("+15551240001")
        })
        .await;
    fx.sink
        .wait_for("blocklist", |f| f == "alpha blocklist full []")
        .await;
    assert!(engine.directory(&s).is_some());

    // wasim drops the connection: back to WORKING on its own.
    fx.wasim
        .fault(Fault::Drop {
            account: Some("15551240001".into()),
        })
        .await
        .unwrap();
    wait_status(&engine, &s, SessionStatus::Starting).await;
    wait_status(&engine, &s, SessionStatus::Working).await;

    // A server restart: a new engine on the same data dir logs in without a scan.
    within("shutdown", engine.shutdown()).await;
    assert_eq!(engine.stored_sessions().await.unwrap(), vec![s.clone()]);
    assert!(
        engine.start(&s).await.is_err(),
        "a shut-down engine starts nothing"
    );
    let engine2 = fx.engine().await;
    let mut rx2 = engine2.subscribe();
    within("start again", engine2.start(&s)).await.unwrap();
    wait_status(&engine2, &s, SessionStatus::Working).await;
    assert!(
        !statuses_of(&mut rx2).contains(&SessionStatus::ScanQrCode),
        "stored keys must log in without a QR"
    );
    assert_eq!(engine2.state(&s).me.unwrap().id, "15551240001@c.us");

    // Stop keeps the keys; start again logs in.
    within("stop", engine2.stop(&s)).await.unwrap();
    assert_eq!(engine2.state(&s).status, SessionStatus::Stopped);
    assert_eq!(engine2.stored_sessions().await.unwrap(), vec![s.clone()]);
    within("restart", engine2.start(&s)).await.unwrap();
    wait_status(&engine2, &s, SessionStatus::Working).await;

    within("shutdown", engine2.shutdown()).await;
    fx.wasim.shutdown().await;
}

/// A login stopped before it is ready gives its turn back at once: a user who restarts
/// a session while it is still syncing gets it started again, not after the connect
/// timeout (schemathesis's rapid restarts once held every turn and hung a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_login_gives_its_turn_back() {
    let fx = Fixture::new().await;
    let s = name("turns");
    let account = "15551240077";
    {
        let engine = fx.engine().await;
        link_by_qr(&fx, &engine, &s, account).await;
        within("shutdown", engine.shutdown()).await;
    }
    let engine = fx
        .engine_with(|c| {
            c.max_concurrent_logins = 1;
            c.connect_timeout = Duration::from_secs(60);
        })
        .await;
    // Answers come late: the login connects but is not ready for a while.
    fx.wasim
        .fault(Fault::Delay {
            ms: 5_000,
            account: Some(account.into()),
        })
        .await
        .unwrap();
    for round in 0..3 {
        let started = tokio::time::timeout(Duration::from_secs(5), engine.start(&s)).await;
        assert!(
            started.is_ok(),
            "start {round} waited for a login turn a stopped login still held"
        );
        started.unwrap().unwrap();
        within("stop", engine.stop(&s)).await.unwrap();
    }
    fx.wasim.fault(Fault::Clear).await.unwrap();
    within("start", engine.start(&s)).await.unwrap();
    wait_status(&engine, &s, SessionStatus::Working).await;
    within("shutdown", engine.shutdown()).await;
    fx.wasim.shutdown().await;
}

/// A session that learns many LID mappings keeps none in its own maps: they sit in the
/// engine's shared memory tier, bounded in bytes, and in the database, from which
/// every one still resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lid_mappings_stay_within_the_shared_bound() {
    const USERS: u64 = 300;
    const BOUND: u64 = 16 << 10;
    let fx = Fixture::new().await;
    let phones: Vec<PhoneNumber> = (0..USERS)
        .map(|i| PhoneNumber::parse(&format!("1555077{i:04}")).unwrap())
        .collect();
    fx.wasim
        .upsert_users(
            phones
                .iter()
                .map(|p| DirectoryUser::new(p.wa_id()))
                .collect(),
        )
        .await
        .unwrap();
    let engine = fx.engine_with(|c| c.lid_cache_bytes = BOUND).await;
    let s = name("many");
    link_by_qr(&fx, &engine, &s, "15551240078").await;
    let dir = engine.directory(&s).unwrap();
    for batch in phones.chunks(50) {
        let found = within("is_on_whatsapp", dir.is_on_whatsapp(batch))
            .await
            .unwrap();
        assert_eq!(found.len(), batch.len());
    }

    let memory = engine.session_memory(&s).await.expect("running");
    assert_eq!(
        memory.lid_pn_in_process, 0,
        "LID mappings held in the session's own maps: {memory:?}"
    );
    let usage = engine.lid_cache_usage();
    assert!(usage.entries > 0, "the shared tier holds the recent ones");
    assert!(usage.bytes <= BOUND, "{usage:?} over {BOUND} bytes");
    let known = within("known_lids", dir.known_lids(&phones)).await.unwrap();
    assert_eq!(known.len() as u64, USERS, "every mapping resolves");

    within("shutdown", engine.shutdown()).await;
    fx.wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_code_links() {
    let fx = Fixture::new().await;
    let engine = fx.engine().await;
    let s = name("coded");
    let bad = engine.request_code(&s, "12ab").await;
    assert!(bad.is_err(), "letters are not a phone number");
    let code = within("request code", engine.request_code(&s, "+1 555 124 0002"))
        .await
        .expect("a pair code");
    assert_eq!(code.replace('-', "").len(), 8, "{code}");
    within("enter code", fx.wasim.pair_code("15551240002", &code))
        .await
        .expect("wasim accepts the code");
    wait_status(&engine, &s, SessionStatus::Working).await;
    assert_eq!(engine.state(&s).me.unwrap().id, "15551240002@c.us");
    let again = engine.request_code(&s, "15551240002").await;
    assert!(again.is_err(), "a linked session gets no pair code");
    within("shutdown", engine.shutdown()).await;
    fx.wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_api_and_from_phone() {
    let fx = Fixture::new().await;
    let engine = fx.engine().await;

    // From the API: unlinked on WhatsApp, keys wiped, STOPPED "logged out".
    let a = name("api-out");
    link_by_qr(&fx, &engine, &a, "15551240003").await;
    within("logout", engine.logout(&a)).await.unwrap();
    let state = engine.state(&a);
    assert_eq!(state.status, SessionStatus::Stopped);
    assert_eq!(state.reason.as_deref(), Some("logged out"));
    assert!(state.me.is_none());
    assert!(
        !engine.stored_sessions().await.unwrap().contains(&a),
        "keys wiped"
    );
    let account = fx
        .wasim
        .accounts()
        .await
        .into_iter()
        .find(|a| a.phone == "15551240003")
        .unwrap();
    assert!(
        account.devices.is_empty(),
        "device still linked: {account:?}"
    );
    // Starting again is a new device: a QR.
    within("start", engine.start(&a)).await.unwrap();
    wait_status(&engine, &a, SessionStatus::ScanQrCode).await;
    within("stop", engine.stop(&a)).await.unwrap();

    // From the phone: FAILED with the reason, keys wiped.
    let p = name("phone-out");
    link_by_qr(&fx, &engine, &p, "15551240004").await;
    fx.wasim
        .fault(Fault::Logout {
            account: "15551240004".into(),
            device: None,
        })
        .await
        .unwrap();
    let reason = wait_status(&engine, &p, SessionStatus::Failed).await;
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("logged out")),
        "{reason:?}"
    );
    let deadline = tokio::time::Instant::now() + T;
    while engine.stored_sessions().await.unwrap().contains(&p) {
        assert!(tokio::time::Instant::now() < deadline, "keys not wiped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Delete forgets everything.
    within("delete", engine.delete(&p)).await.unwrap();
    assert_eq!(engine.state(&p).status, SessionStatus::Stopped);
    within("shutdown", engine.shutdown()).await;
    fx.wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_events_reach_the_sink_and_directory_answers() {
    let fx = Fixture::new().await;
    fx.wasim
        .upsert_users(vec![
            DirectoryUser {
                push_name: Some("Alice Push".into()),
                about: Some("hello there".into()),
                picture_id: Some("777".into()),
                picture_url: Some("https://pps.example/777.jpg".into()),
                ..DirectoryUser::new("15550005001")
            },
            DirectoryUser {
                business: Some(true),
                verified_name: Some("Bob Biz".into()),
                about_hidden: Some(true),
                picture_hidden: Some(true),
                ..DirectoryUser::new("15550005002")
            },
            DirectoryUser::new("5511987654321"),
        ])
        .await
        .unwrap();
    let engine = fx.engine().await;
    let s = name("contacts");
    link_by_qr(&fx, &engine, &s, "15551240005").await;

    // Address book: a contact saved on the phone.
    fx.wasim
        .add_contact(
            "15551240005",
            AddressBookContact {
                phone: "15550005001".into(),
                full_name: Some("Alice Smith".into()),
                first_name: Some("Alice".into()),
            },
        )
        .await
        .unwrap();
    let fact = fx
        .sink
        .wait_for("address book", |f| {
            f.starts_with("contacts contact +15550005001")
        })
        .await;
    assert!(fact.contains("full=Some(\"Alice Smith\")"), "{fact}");
    assert!(fact.contains("first=Some(\"Alice\")"), "{fact}");

    // Push name from an incoming message.
    fx.wasim
        .push_event(
            "15550005001",
            UserEvent::PushName {
                push_name: "Alice Push".into(),
            },
        )
        .await
        .unwrap();
    fx.sink
        .wait_for("push name", |f| {
            f.contains("push_name") && f.ends_with("Alice Push")
        })
        .await;

    // About and picture changes.
    fx.wasim
        .push_event(
            "15550005001",
            UserEvent::About {
                about: "new about".into(),
            },
        )
        .await
        .unwrap();
    fx.sink
        .wait_for("about", |f| {
            f.contains(" about ") && f.ends_with("new about")
        })
        .await;
    fx.wasim
        .push_event(
            "15550005001",
            UserEvent::Picture {
                picture_id: Some("888".into()),
                picture_url: None,
            },
        )
        .await
        .unwrap();
    fx.sink
        .wait_for("picture", |f| {
            f.contains(" picture ") && f.ends_with("Some(\"888\")")
        })
        .await;

    // A new identity key (reinstall): the security code changed.
    fx.wasim
        .push_event("15550005001", UserEvent::Identity)
        .await
        .unwrap();
    let identity = fx
        .sink
        .wait_for("identity", |f| {
            f.contains(" identity ") && f.ends_with("implicit=false")
        })
        .await;
    assert!(identity.starts_with("contacts identity "), "{identity}");
    assert!(
        identity.contains(" key=true "),
        "the new key is read: {identity}"
    );

    // Directory.
    let dir = engine
        .directory(&s)
        .expect("a running session has a directory");
    let alice = PhoneNumber::parse("15550005001").unwrap();
    let bob = PhoneNumber::parse("15550005002").unwrap();
    let nobody = PhoneNumber::parse("15550005999").unwrap();
    let found = within("is_on_whatsapp", dir.is_on_whatsapp(&[alice, bob, nobody]))
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert!(found[&alice].exists);
    assert_eq!(found[&alice].phone, Some(alice));
    assert!(found[&alice].lid.is_some());
    assert!(found[&bob].exists && found[&bob].is_business);
    assert_eq!(found[&bob].verified_name.as_deref(), Some("Bob Biz"));
    assert!(!found[&nobody].exists);
    // WhatsApp's answer is the truth for the canonical number: a Brazilian mobile
    // asked without its 9th digit comes back as registered, with it.
    let br_asked = PhoneNumber::parse("551187654321").unwrap();
    let br = within("is_on_whatsapp BR", dir.is_on_whatsapp(&[br_asked]))
        .await
        .unwrap();
    assert!(br[&br_asked].exists);
    assert_eq!(
        br[&br_asked].phone,
        Some(PhoneNumber::parse("5511987654321").unwrap())
    );
    let alice_lid = found[&alice].lid.clone().unwrap();
    assert_eq!(
        within("known_lids", dir.known_lids(&[alice, nobody]))
            .await
            .unwrap(),
        HashMap::from([(alice, alice_lid.clone())]),
        "the client keeps what usync told; unknown numbers are absent"
    );
    assert_eq!(
        within("known_phone", dir.known_phone(&alice_lid))
            .await
            .unwrap(),
        Some(alice)
    );

    let a = ContactRef::Phone(alice);
    let b = ContactRef::Phone(bob);
    let info = within("user_info", dir.user_info(&[a.clone(), b.clone()]))
        .await
        .unwrap();
    assert_eq!(info[&a].about.as_deref(), Some("new about"));
    assert_eq!(info[&a].lid, Some(alice_lid.clone()));
    assert!(info[&b].is_business);
    assert_eq!(info[&b].about, None, "hidden about");

    let pic = within("picture", dir.profile_picture(&a, true))
        .await
        .unwrap()
        .expect("alice has a picture");
    assert_eq!(pic.id, "888");
    assert_eq!(
        within("hidden picture", dir.profile_picture(&b, false))
            .await
            .unwrap(),
        None
    );

    within("block", dir.block(&alice_lid, Some(&alice)))
        .await
        .unwrap();
    let list = within("blocklist", dir.blocklist()).await.unwrap();
    let blocked: HashSet<String> = list.iter().map(|e| e.who.to_string()).collect();
    assert!(
        blocked.contains(&alice_lid.to_string()) || blocked.contains("+15550005001"),
        "{blocked:?}"
    );
    within("unblock", dir.unblock(&alice_lid)).await.unwrap();
    assert!(
        within("blocklist", dir.blocklist())
            .await
            .unwrap()
            .is_empty()
    );

    within("save", dir.save_contact(&bob, "Bob Builder", Some("Bob")))
        .await
        .unwrap();
    let account = fx
        .wasim
        .accounts()
        .await
        .into_iter()
        .find(|a| a.phone == "15551240005")
        .unwrap();
    assert!(
        account
            .contacts
            .iter()
            .any(|c| c.phone == "15550005002" && c.full_name.as_deref() == Some("Bob Builder")),
        "{:?}",
        account.contacts
    );

    // Number change: same LID, new phone.
    fx.wasim
        .push_event(
            "15550005001",
            UserEvent::NumberChange {
                new_phone: "15550005011".into(),
            },
        )
        .await
        .unwrap();
    fx.sink
        .wait_for("number change", |f| {
            f.starts_with("contacts number +15550005001 -> +15550005011")
        })
        .await;

    // Rate limit from WhatsApp is typed. Every usync until cleared: the client's own
    // usync after the number change may still be on its way and take a single one.
    fx.wasim
        .fault(Fault::UsyncRateLimit {
            count: None,
            account: None,
        })
        .await
        .unwrap();
    let limited = dir.is_on_whatsapp(&[alice]).await;
    fx.wasim.fault(Fault::Clear).await.unwrap();
    assert!(
        matches!(limited, Err(DirectoryError::RateLimited { .. })),
        "{limited:?}"
    );

    // Stopped: not connected.
    within("stop", engine.stop(&s)).await.unwrap();
    assert!(engine.directory(&s).is_none());
    assert_eq!(
        dir.is_on_whatsapp(&[alice]).await.unwrap_err(),
        DirectoryError::NotConnected
    );
    within("shutdown", engine.shutdown()).await;
    fx.wasim.shutdown().await;
}

/// Forwards the legacy client's events to the test.
struct Events(tokio::sync::mpsc::UnboundedSender<Arc<whatsapp_rust::types::events::Event>>);

impl whatsapp_rust::types::events::EventHandler for Events {
    fn handle_event(&self, event: Arc<whatsapp_rust::types::events::Event>) {
        let _ = self.0.send(event);
    }
}

/// Links `account` the way versions before the shared database did: whatsapp-rust's
/// bundled SQLite store in `{data_dir}/sessions/{name}/device.db`. Returns once the
/// client is connected and the stored session has been disconnected; the client
/// returned keeps the file open (no checkpoint: the rows stay in its `-wal`).
async fn link_with_legacy_file(
    fx: &Fixture,
    s: &SessionName,
    account: &str,
) -> Arc<whatsapp_rust::Client> {
    use whatsapp_rust::types::events::Event;
    let dir = fx.dir.path().join("sessions").join(s.as_str());
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("device.db");
    let store = whatsapp_rust::store::SqliteStore::new(db.to_str().unwrap())
        .await
        .expect("legacy store opens");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bot = whatsapp_rust::bot::Bot::builder()
        .with_backend(store)
        .with_transport_factory(
            whatsapp_rust::transport::TokioWebSocketTransportFactory::new()
                .with_url(fx.wasim.ws_url()),
        )
        .with_event_handler(Events(tx))
        .with_version((2, 3000, 1_000_000_000))
        .with_wanted_pre_key_count(50)
        .build()
        .await
        .expect("legacy client builds");
    let client = bot.client();
    let handle = bot.spawn();
    let mut scanned = false;
    loop {
        let event = within("legacy link", rx.recv()).await.expect("events");
        match &*event {
            Event::PairingQrCode(qr) if !scanned => {
                within("scan", fx.wasim.scan_qr(&qr.code, Some(account)))
                    .await
                    .expect("wasim scans");
                scanned = true;
            }
            Event::Connected(_) if scanned => break,
            _ => {}
        }
    }
    // Let the first login's writes (prekeys, app-state keys) land before stopping.
    let deadline = tokio::time::Instant::now() + T;
    while client.persistence_manager().flush().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "legacy flush");
    }
    client.disconnect().await;
    within("legacy client ends", handle).await;
    client.persistence_manager().flush().await.unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_device_db_is_imported_and_logs_in_without_scan() {
    legacy_device_db_is_imported(Fixture::new().await).await;
}

/// The same upgrade on PostgreSQL (`--database-url postgres://…`): the legacy file is
/// read on its own read-only connection, WAL included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_device_db_is_imported_into_postgres_and_logs_in_without_scan() {
    legacy_device_db_is_imported(Fixture::on_postgres().await).await;
}

/// A session linked by an older version (its keys in `sessions/NAME/device.db`)
/// starts on the upgraded engine without a QR, the file set aside.
async fn legacy_device_db_is_imported(fx: Fixture) {
    let s = name("legacy");
    let _legacy = link_with_legacy_file(&fx, &s, "15551240009").await;
    let file = fx.dir.path().join("sessions/legacy/device.db");
    assert!(file.is_file());
    // The old process's writes are still in the WAL (its store is open, as after a
    // crash): the import must read them through the `-wal` file.
    let wal = fx.dir.path().join("sessions/legacy/device.db-wal");
    assert!(
        wal.metadata().unwrap().len() > file.metadata().unwrap().len(),
        "the legacy keys are in the WAL"
    );

    // The upgraded server: the session is listed before its first start ...
    let engine = fx.engine().await;
    assert_eq!(engine.stored_sessions().await.unwrap(), vec![s.clone()]);
    let mut rx = engine.subscribe();
    within("start", engine.start(&s)).await.unwrap();
    wait_status(&engine, &s, SessionStatus::Working).await;
    assert!(
        !statuses_of(&mut rx).contains(&SessionStatus::ScanQrCode),
        "the imported keys log in without a QR"
    );
    assert_eq!(engine.state(&s).me.unwrap().id, "15551240009@c.us");
    // ... the file is set aside, never read again, and the keys are in the database.
    assert!(!file.exists());
    assert!(
        fx.dir
            .path()
            .join("sessions/legacy/device.db.imported")
            .is_file()
    );
    assert_eq!(engine.stored_sessions().await.unwrap(), vec![s.clone()]);
    // WhatsApp still sees one linked device (the same one, not a new link).
    let linked = fx
        .wasim
        .accounts()
        .await
        .into_iter()
        .find(|a| a.phone == "15551240009")
        .unwrap();
    assert_eq!(linked.devices.len(), 1, "{linked:?}");

    // A restart after the import logs in from the database alone.
    within("shutdown", engine.shutdown()).await;
    let engine2 = fx.engine().await;
    within("start again", engine2.start(&s)).await.unwrap();
    wait_status(&engine2, &s, SessionStatus::Working).await;
    within("shutdown", engine2.shutdown()).await;
    fx.wasim.shutdown().await;
}
