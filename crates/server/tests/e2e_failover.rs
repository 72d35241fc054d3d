//! Two real server processes on one PostgreSQL database (each with its own data dir:
//! nothing of a session is on local disk), 20 sessions linked to wasim: each
//! session runs in one process, any process answers for any session (forwarding it),
//! and when one process is killed (SIGKILL) the other takes its sessions over, WORKING
//! again without a scan, and keeps delivering their webhooks under the same ids.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use common::{API_KEY, json_of};
use serde_json::{Value, json};
use wacontacts_store::testing::{Backend, TestDatabase};

/// Sessions linked, and how many go through each node.
const SESSIONS: usize = 20;
/// The README's promise: a dead node's sessions work again within this.
const TAKEOVER_BOUND: Duration = Duration::from_secs(30);
/// Every other wait of this test.
const WAIT: Duration = Duration::from_secs(60);
/// The phone whose push name changes after the kill (every account sees it).
const FRIEND: &str = "15557770002";
/// The session `/v1` acts on: linked through node-a, so node-a holds it.
const ONPREM: &str = "s00";

/// How the nodes share their database: one PostgreSQL database (`--database-url`),
/// and a data dir of each node's own.
fn database_args(database_url: &str, node_dir: &Path) -> Vec<String> {
    vec![
        "--database-url".into(),
        database_url.into(),
        "--data-dir".into(),
        node_dir.display().to_string(),
    ]
}

/// One `wacontacts serve` process.
struct Node {
    id: &'static str,
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Node {
    fn spawn(id: &'static str, dir: &Path, db: &str, wasim_url: &str, hook: &str) -> Node {
        let log = dir.join(format!("{id}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_wacontacts"))
            .arg("serve")
            .args(database_args(db, &dir.join(id)))
            .args(["--listen", "127.0.0.1:0", "--node-id", id])
            .args([
                "--whatsapp-url",
                wasim_url,
                "--whatsapp-version",
                "2.3000.1000000000",
            ])
            .args(["--webhook-url", hook, "--onprem-session", ONPREM])
            .env("WACONTACTS_API_KEY", API_KEY)
            .env("RUST_LOG", "info,sqlx=warn,whatsapp_rust=warn,wacore=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        // Logs go to a file beside the data (read them when this test fails); the
        // first line names the address.
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(log).unwrap();
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("wacontacts listening on ") {
                    let _ = tx.send(url.to_owned());
                }
                let _ = writeln!(file, "{line}");
            }
        });
        let base = rx
            .recv_timeout(WAIT)
            .expect("the server says where it listens");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-api-key", API_KEY.parse().unwrap());
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(40))
            .build()
            .unwrap();
        Node {
            id,
            child,
            base,
            client,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        json_of(resp).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        json_of(resp).await
    }

    /// The sessions this node says it holds.
    async fn held(&self) -> Vec<String> {
        let (status, health) = self.get("/health").await;
        assert_eq!(status, 200, "{health}");
        assert_eq!(health["node"]["id"], self.id);
        serde_json::from_value(health["node"]["held"].clone()).unwrap()
    }

    /// Polls `path` on this node until `check` holds on a 200 answer.
    async fn wait_for(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (code, body) = self.get(path).await;
            if code == 200 && check(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out polling {path} on {}; last answer {code}: {body}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A counter of `/metrics`.
    async fn metric(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test's webhook receiver: every envelope it got, refused (503 while `down`)
/// or accepted.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(Value, bool)>>>,
    /// On-Prem `no_wait` callbacks (`{"contacts": [...]}`), at `/callback`.
    callbacks: Arc<Mutex<Vec<(Value, bool)>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start(self) -> String {
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(r): State<Receiver>, axum::Json(v): axum::Json<Value>| async move {
                        r.take(&r.got, v)
                    },
                ),
            )
            .route(
                "/callback",
                axum::routing::post(
                    |State(r): State<Receiver>, axum::Json(v): axum::Json<Value>| async move {
                        r.take(&r.callbacks, v)
                    },
                ),
            )
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    /// Records `v` in `into`; 503 while down.
    fn take(&self, into: &Mutex<Vec<(Value, bool)>>, v: Value) -> StatusCode {
        let up = !self.down.load(std::sync::atomic::Ordering::SeqCst);
        into.lock().unwrap().push((v, up));
        if up {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }

    /// On-Prem callbacks so far, with whether they were accepted.
    fn callbacks(&self) -> Vec<(Value, bool)> {
        self.callbacks.lock().unwrap().clone()
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Envelopes whose payload mentions `text`, with whether they were accepted.
    fn mentioning(&self, text: &str) -> Vec<(Value, bool)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e["payload"].to_string().contains(text))
            .cloned()
            .collect()
    }

    /// Ids of the envelopes refused so far.
    fn refused(&self) -> Vec<(String, String)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(e, _)| (e["session"].to_string(), e["id"].to_string()))
            .collect()
    }

    fn accepted_ids(&self) -> HashSet<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(e, _)| e["id"].to_string())
            .collect()
    }

    /// Waits until every session's event mentioning `text` was accepted.
    async fn wait_all(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let sessions: HashSet<String> = self
                .mentioning(text)
                .iter()
                .filter(|(_, ok)| *ok)
                .filter_map(|(e, _)| e["session"].as_str().map(str::to_owned))
                .collect();
            if sessions.len() == SESSIONS {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} reached {} sessions' webhook",
                sessions.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Each session's event mentioning `text` went out under one id, however often.
    fn one_id_each(&self, text: &str) {
        let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
        for (e, _) in self.mentioning(text) {
            ids.entry(e["session"].to_string())
                .or_default()
                .insert(e["id"].to_string());
        }
        assert_eq!(ids.len(), SESSIONS);
        let twice: Vec<_> = ids.iter().filter(|(_, v)| v.len() > 1).collect();
        assert!(
            twice.is_empty(),
            "{text:?} delivered under two ids: {twice:?}"
        );
    }
}

async fn push_name(wasim: &wasim::Wasim, name: &str) {
    wasim
        .push_event(
            FRIEND,
            wasim::UserEvent::PushName {
                push_name: name.into(),
            },
        )
        .await
        .unwrap();
}

fn account(i: usize) -> String {
    format!("1555100{i:04}")
}

/// Links `session` through `node`, as a user does: create, read the QR, scan it.
async fn link(node: &Node, wasim: &wasim::Wasim, session: &str, phone: &str) {
    let (status, body) = node.post("/api/sessions", json!({ "name": session })).await;
    assert_eq!(status, 201, "{body}");
    node.wait_for(&format!("/api/sessions/{session}"), |v| {
        v["status"] == "SCAN_QR_CODE"
    })
    .await;
    let (status, qr) = node
        .get(&format!("/api/{session}/auth/qr?format=raw"))
        .await;
    assert_eq!(status, 200, "{qr}");
    tokio::time::timeout(
        WAIT,
        wasim.scan_qr(qr["value"].as_str().unwrap(), Some(phone)),
    )
    .await
    .expect("scan in time")
    .expect("wasim scans");
    node.wait_for(&format!("/api/sessions/{session}"), |v| {
        v["status"] == "WORKING"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_sessions_are_taken_over_without_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a PostgreSQL database (run the tests with scripts/test)");
    let db = database.raw_url();
    let wasim = wasim::Wasim::start("127.0.0.1:0".parse().unwrap(), Default::default())
        .await
        .expect("wasim starts");
    wasim
        .upsert_users(vec![wasim::DirectoryUser::new(FRIEND)])
        .await
        .unwrap();
    let receiver = Receiver::default();
    let hook = receiver.clone().start().await;
    let a = Node::spawn("node-a", dir.path(), db, &wasim.ws_url(), &hook);
    let b = Node::spawn("node-b", dir.path(), db, &wasim.ws_url(), &hook);

    // Sessions are created and linked through either node.
    let names: Vec<String> = (0..SESSIONS).map(|i| format!("s{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        link(node, &wasim, name, &account(i)).await;
    }
    let (held_a, held_b) = (a.held().await, b.held().await);
    assert!(
        !held_a.is_empty() && !held_b.is_empty(),
        "{held_a:?} {held_b:?}"
    );
    let all: HashSet<&String> = held_a.iter().chain(&held_b).collect();
    assert_eq!(
        all.len(),
        SESSIONS,
        "each session held once: {held_a:?} {held_b:?}"
    );

    // Any node answers for any session: b forwards a's session to a.
    let on_a = &held_a[0];
    let resp = b
        .client
        .get(format!("{}/api/contacts/all?session={on_a}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-wacontacts-node"], "node-a");
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.is_array(), "{body}");
    let (status, info) = b.get(&format!("/api/sessions/{on_a}")).await;
    assert_eq!((status, info["status"].as_str()), (200, Some("WORKING")));
    // A listing names no session: any node answers it, with what the holders recorded.
    let (status, list) = b.get("/api/sessions?all=true").await;
    assert_eq!(status, 200, "{list}");
    let listed = list.as_array().unwrap();
    assert_eq!(listed.len(), SESSIONS, "{list}");
    assert!(listed.iter().all(|s| s["status"] == "WORKING"), "{list}");

    // Idle lease upkeep, per session: the loop's statements over two whole rounds,
    // counted from the end of one.
    let lease_queries = "wacontacts_lease_queries_total";
    let first = b.metric(lease_queries).await;
    let (q0, t0) = wait_metric_above(&b, lease_queries, first).await;
    let (q1, t1) = wait_metric_above(&b, lease_queries, q0 + 7.0).await;
    let per_second = (q1 - q0) / (t1 - t0).as_secs_f64();
    println!(
        "lease upkeep on one node: {per_second:.2} statements/s for {} sessions = {:.3} per idle session",
        held_b.len(),
        per_second / held_b.len() as f64
    );

    // An event while the receiver is down: node-a keeps its sessions' deliveries in
    // the shared outbox, retrying, when it is SIGKILLed.
    receiver.set_down(true);
    assert!(held_a.iter().any(|s| s == ONPREM), "{held_a:?}");
    let callback = hook.replace("/hook", "/callback");
    let resp = b
        .client
        .patch(format!("{}/v1/settings/application", b.base))
        .json(&json!({"webhooks": {"url": callback}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A `no_wait` check through node-b runs on node-a; its answer cannot be delivered.
    let (status, body) = b
        .post(
            "/v1/contacts",
            json!({"blocking": "no_wait", "contacts": [format!("+{FRIEND}")]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    push_name(&wasim, "Before Kill").await;
    let deadline = Instant::now() + WAIT;
    let pending: HashSet<String> = loop {
        let refused = receiver.refused();
        let sessions: HashSet<&String> = refused.iter().map(|(s, _)| s).collect();
        if sessions.len() == SESSIONS && !receiver.callbacks().is_empty() {
            break refused.into_iter().map(|(_, id)| id).collect();
        }
        assert!(Instant::now() < deadline, "every session tried to deliver");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let devices_before: HashMap<String, usize> = device_counts(&wasim).await;
    let killed = Instant::now();
    drop(a);
    receiver.set_down(false);
    let deadline = killed + TAKEOVER_BOUND;
    loop {
        let held = b.held().await;
        let mut working = 0;
        if held.len() == SESSIONS {
            for name in &names {
                let (code, v) = b.get(&format!("/api/sessions/{name}")).await;
                if code == 200 && v["status"] == "WORKING" {
                    working += 1;
                }
            }
        }
        if working == SESSIONS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all sessions WORKING on node-b within {TAKEOVER_BOUND:?}: holds {}, {working} working",
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "takeover: every session WORKING on node-b {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    // No new scan: no account gained a device; each still knows its account.
    assert_eq!(device_counts(&wasim).await, devices_before);
    for (i, name) in names.iter().enumerate() {
        let (_, me) = b.get(&format!("/api/sessions/{name}/me")).await;
        assert_eq!(me["id"], format!("{}@c.us", account(i)), "{name}");
    }

    // The event node-a could not deliver arrives, from node-b, and so does one
    // that happened after the kill; each under one id per session.
    push_name(&wasim, "After Kill").await;
    let deadline = Instant::now() + WAIT;
    while !pending.is_subset(&receiver.accepted_ids()) {
        assert!(
            Instant::now() < deadline,
            "events refused before the kill are delivered after it, same ids"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.wait_all("Before Kill").await;
    receiver.wait_all("After Kill").await;
    // The queued check's answer, kept in the shared queue, arrives from node-b.
    let deadline = Instant::now() + WAIT;
    loop {
        let delivered = receiver.callbacks().into_iter().find(|(_, ok)| *ok);
        if let Some((answer, _)) = delivered {
            assert_eq!(
                answer["contacts"][0],
                json!({"input": format!("+{FRIEND}"), "status": "valid", "wa_id": FRIEND}),
                "{answer}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the check's answer after the kill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.one_id_each("Before Kill");
    receiver.one_id_each("After Kill");

    // A new node gets its fair share: node-b hands half over, they log in there.
    let c = Node::spawn("node-c", dir.path(), db, &wasim.ws_url(), &hook);
    let deadline = Instant::now() + WAIT;
    loop {
        let (on_b, on_c) = (b.held().await, c.held().await);
        let mut working = 0;
        if on_b.len() == SESSIONS / 2 && on_c.len() == SESSIONS / 2 {
            for name in &on_c {
                let (code, v) = c.get(&format!("/api/sessions/{name}")).await;
                working += usize::from(code == 200 && v["status"] == "WORKING");
            }
        }
        if working == SESSIONS / 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sessions spread: node-b {}, node-c {} ({working} working there)",
            on_b.len(),
            on_c.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(device_counts(&wasim).await, devices_before, "no new scan");
    wasim.shutdown().await;
}

/// Polls `node`'s counter `name` until it exceeds `above`; its value and when.
async fn wait_metric_above(node: &Node, name: &str, above: f64) -> (f64, Instant) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = node.metric(name).await;
        if value > above {
            return (value, Instant::now());
        }
        assert!(Instant::now() < deadline, "{name} passes {above}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Linked devices per account, as wasim knows them.
async fn device_counts(wasim: &wasim::Wasim) -> HashMap<String, usize> {
    wasim
        .accounts()
        .await
        .into_iter()
        .map(|a| (a.phone, a.devices.len()))
        .collect()
}
