//! Checking 10,000 numbers over real HTTP through the ban guard (issue 10).
//!
//! Links a session through wasim (500 of the numbers registered), lifts the session's
//! budget, then posts the 10,000 numbers to `POST /api/{session}/contacts/check-exists`:
//! once cold (every number looked up on wasim, in batches) and then cached, several
//! times. Prints numbers/second, the usync queries and users wasim saw, and the cached
//! latency. Target: the cached 10,000 in under 200 ms.
//!
//! Run: `cargo bench -p wacontacts --bench checks`. Loopback only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Linked;
use serde_json::json;
use wasim::DirectoryUser;

const ME: &str = "15553330000";
const NUMBERS: u64 = 10_000;
const CACHED_RUNS: usize = 10;

fn number(i: u64) -> String {
    format!("1555{:07}", 4_000_000 + i)
}

async fn usync(linked: &Linked) -> (u64, u64) {
    linked.usync_counts(ME).await
}

async fn post(linked: &Linked, phones: &[String]) -> Duration {
    let started = Instant::now();
    let (status, body) = linked
        .app
        .post_json(
            "/api/default/contacts/check-exists",
            json!({ "phones": phones }),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(phones.len()));
    took
}

async fn run() {
    let users = (0..NUMBERS / 20)
        .map(|i| DirectoryUser::new(number(i * 20)))
        .collect();
    let linked = Linked::start(users).await;
    linked.link("default", ME).await;
    let (status, body) = linked
        .app
        .put_json(
            "/api/sessions/default",
            json!({"config": {"checks": {"budgetPerHour": 1_000_000}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let phones: Vec<String> = (0..NUMBERS).map(number).collect();

    let before = usync(&linked).await;
    let cold = post(&linked, &phones).await;
    let after = usync(&linked).await;
    println!(
        "cold:   {NUMBERS} numbers in {:>8.1} ms = {:>9.0} numbers/s; wasim saw {} usync queries, {} users",
        cold.as_secs_f64() * 1000.0,
        NUMBERS as f64 / cold.as_secs_f64(),
        after.0 - before.0,
        after.1 - before.1,
    );

    let mut cached: Vec<Duration> = Vec::with_capacity(CACHED_RUNS);
    for _ in 0..CACHED_RUNS {
        cached.push(post(&linked, &phones).await);
    }
    assert_eq!(
        usync(&linked).await,
        after,
        "cached passes ask WhatsApp nothing"
    );
    cached.sort();
    let median = cached[CACHED_RUNS / 2];
    println!(
        "cached: {NUMBERS} numbers in {:>8.1} ms median ({:.1}–{:.1} ms over {CACHED_RUNS} runs) = {:>9.0} numbers/s; 0 usync queries (target < 200 ms)",
        median.as_secs_f64() * 1000.0,
        cached[0].as_secs_f64() * 1000.0,
        cached[CACHED_RUNS - 1].as_secs_f64() * 1000.0,
        NUMBERS as f64 / median.as_secs_f64(),
    );
    linked.stop().await;
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run());
}
