//! Device state (whatsapp-rust's keys, Signal sessions, app-state) lives in the one
//! database: linking sessions creates no file per session and opens no file of its
//! own; logout wipes the session's rows, and a restart logs in from the database.

mod common;

use std::path::{Path, PathBuf};

use common::Linked;
use serde_json::json;

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The files under `dir` this process has open (through /proc/self/fd).
fn open_files_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap();
    let mut out: Vec<PathBuf> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The rows of `session` in the device tables, through the database file itself.
async fn device_rows(data_dir: &Path, session: &str) -> i64 {
    let url = format!("sqlite://{}", data_dir.join("wacontacts.db").display());
    let store = wacontacts_store::Store::open_url(&url).await.unwrap();
    let devices = store.devices();
    let name = wacontacts_core::session::SessionName::parse(session).unwrap();
    let n = i64::from(devices.exists(&name).await.unwrap());
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_sessions_keep_no_file_of_their_own_and_logout_wipes_their_rows() {
    let linked = Linked::start(vec![]).await;
    for (i, session) in ["one", "two", "three"].iter().enumerate() {
        linked.link(session, &format!("1555888000{i}")).await;
    }
    let data_dir = linked.dir.path().to_path_buf();
    let files = files_under(&data_dir);
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains("device.db")),
        "a per-session device file exists: {files:#?}"
    );
    let open = open_files_under(&data_dir);
    // `node-id`: the process's node id, locked while it runs (one file per process).
    let shared = [
        "wacontacts.db",
        "wacontacts.db-wal",
        "wacontacts.db-shm",
        "node-id",
    ];
    assert!(
        open.iter()
            .all(|f| shared.contains(&f.file_name().unwrap().to_str().unwrap())),
        "files open beside the one database: {open:#?}"
    );

    // Logout wipes the session's device rows; the others keep theirs.
    let (status, body) = linked
        .app
        .post_json("/api/sessions/two/logout", json!({}))
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert_eq!(device_rows(&data_dir, "two").await, 0, "keys of two wiped");
    assert_eq!(device_rows(&data_dir, "one").await, 1);

    // A restart logs the others in from the database, without a scan.
    let linked = linked.restart_app().await;
    linked.wait_status("one", "WORKING").await;
    linked.wait_status("three", "WORKING").await;
    let (_, me) = linked.app.get_json("/api/sessions/three/me").await;
    assert_eq!(me["id"], "15558880002@c.us", "{me}");
}
