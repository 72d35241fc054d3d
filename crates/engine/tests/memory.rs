//! How much memory an idle linked session costs (resident set growth per session,
//! linked against wasim, device state in the store's database) and open file
//! descriptors. Ignored by default (it links many
//! sessions); run with `cargo test -p wacontacts-engine --release --test memory -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{ContactEventSink, StoreResult};
use wacontacts_core::session::{SessionName, SessionStatus};
use wacontacts_engine::{Engine, EngineConfig};
use wasim::{Wasim, WasimConfig};

struct NoSink;

#[async_trait]
impl ContactEventSink for NoSink {
    async fn address_book_contact(&self, _: &SessionName, _: AddressBookEntry) -> StoreResult<()> {
        Ok(())
    }
    async fn push_name(&self, _: &SessionName, _: &ContactRef, _: &str) -> StoreResult<()> {
        Ok(())
    }
    async fn lid_mapping(&self, _: &SessionName, _: &Lid, _: &PhoneNumber) -> StoreResult<()> {
        Ok(())
    }
    async fn picture_changed(
        &self,
        _: &SessionName,
        _: &ContactRef,
        _: Option<&str>,
    ) -> StoreResult<()> {
        Ok(())
    }
    async fn about_changed(&self, _: &SessionName, _: &ContactRef, _: &str) -> StoreResult<()> {
        Ok(())
    }
    async fn identity_changed(
        &self,
        _: &SessionName,
        _: &ContactRef,
        _: bool,
        _: i64,
        _: Option<[u8; 32]>,
    ) -> StoreResult<()> {
        Ok(())
    }
    async fn number_changed(&self, _: &SessionName, _: NumberChange) -> StoreResult<()> {
        Ok(())
    }
    async fn blocklist_changed(&self, _: &SessionName, _: BlocklistUpdate) -> StoreResult<()> {
        Ok(())
    }
    async fn business_changed(
        &self,
        _: &SessionName,
        _: &ContactRef,
        _: bool,
        _: Option<&str>,
    ) -> StoreResult<()> {
        Ok(())
    }
    async fn own_push_name(&self, _: &SessionName, _: &str) -> StoreResult<()> {
        Ok(())
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

async fn wait_working(engine: &Engine, s: &SessionName) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while engine.state(s).status != SessionStatus::Working {
        assert!(tokio::time::Instant::now() < deadline, "{s} never WORKING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "links many sessions; run on demand"]
async fn idle_sessions_are_small() {
    let n: usize = std::env::var("SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let wasim = Wasim::start("127.0.0.1:0".parse().unwrap(), WasimConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.whatsapp_url = Some(wasim.ws_url());
    config.client_version = Some((2, 3000, 1_000_000_000));
    let store = wacontacts_store::Store::open_in_dir(dir.path())
        .await
        .unwrap();
    let engine = Engine::new(config, Arc::new(NoSink), store.devices());
    let mut qrs = engine.subscribe_qr();
    let scanner = {
        let wasim = wasim.clone();
        tokio::spawn(async move {
            let mut i = 0u32;
            while let Ok(qr) = qrs.recv().await {
                i += 1;
                let account = format!("1555{:07}", 3_000_000 + i);
                let _ = wasim.scan_qr(&qr.code, Some(&account)).await;
            }
        })
    };
    // Warm up one session so one-time costs are not counted.
    let warm = SessionName::parse("warm").unwrap();
    engine.start(&warm).await.unwrap();
    wait_working(&engine, &warm).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib();
    let fds_before = open_fds();
    let t0 = std::time::Instant::now();
    let names: Vec<SessionName> = (0..n)
        .map(|i| SessionName::parse(&format!("s{i}")).unwrap())
        .collect();
    for chunk in names.chunks(20) {
        for s in chunk {
            engine.start(s).await.unwrap();
        }
        for s in chunk {
            wait_working(&engine, s).await;
        }
    }
    let linked = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib();
    let fds_after = open_fds();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "{n} sessions linked in {linked:?}; RSS {before} KiB -> {after} KiB: {per:.0} KiB per idle session; \
         open fds {fds_before} -> {fds_after}"
    );
    engine.shutdown().await;
    scanner.abort();
    wasim.shutdown().await;
}
