//! Checking 10,000 numbers over real HTTP through the ban guard (issue 10).
//!
//! Links a session through wasim (500 of the numbers registered), lifts the session's
//! budget, then posts the 10,000 numbers to `POST /api/{session}/contacts/check-exists`:
//! once cold (every number looked up on wasim, in batches) and then cached, several
//! times. Prints numbers/second, the usync queries and users wasim saw, and the cached
//! latency. Then the same through On-Prem's `POST /v1/contacts` (`blocking: wait`)
//! with 10,000 other numbers. Target: the cached 10,000 in under 200 ms.
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

/// A dialect's bulk check: its route, its body for `phones`, and how many answers
/// its reply holds.
struct Route {
    name: &'static str,
    path: &'static str,
    body: fn(&[String]) -> serde_json::Value,
    answers: fn(&serde_json::Value) -> Option<usize>,
}

const WAHA: Route = Route {
    name: "WAHA",
    path: "/api/default/contacts/check-exists",
    body: |phones| json!({ "phones": phones }),
    answers: |body| body.as_array().map(Vec::len),
};

const ONPREM: Route = Route {
    name: "On-Prem",
    path: "/v1/contacts",
    body: |phones| json!({ "blocking": "wait", "contacts": phones }),
    answers: |body| body["contacts"].as_array().map(Vec::len),
};

async fn post(linked: &Linked, route: &Route, phones: &[String]) -> Duration {
    let started = Instant::now();
    let (status, body) = linked.app.post_json(route.path, (route.body)(phones)).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!((route.answers)(&body), Some(phones.len()));
    took
}

async fn run() {
    let users = (0..2 * NUMBERS / 20)
        .map(|i| DirectoryUser::new(number(i * 20)))
        .collect();
    let linked = Linked::start(users).await;
    linked.link("default", ME).await;
    linked.set_check_budget("default", 1_000_000).await;
    let phones: Vec<String> = (0..NUMBERS).map(number).collect();
    measure(&linked, &WAHA, &phones).await;
    // On-Prem: other numbers (so the cold pass is cold), with `+` (international).
    let phones: Vec<String> = (NUMBERS..2 * NUMBERS)
        .map(|i| format!("+{}", number(i)))
        .collect();
    measure(&linked, &ONPREM, &phones).await;
    linked.stop().await;
}

/// Posts `phones` once cold and [`CACHED_RUNS`] times cached; prints the figures.
async fn measure(linked: &Linked, route: &Route, phones: &[String]) {
    let name = route.name;
    let before = usync(linked).await;
    let cold = post(linked, route, phones).await;
    let after = usync(linked).await;
    println!(
        "{name:<8} cold:   {NUMBERS} numbers in {:>8.1} ms = {:>9.0} numbers/s; wasim saw {} usync queries, {} users",
        cold.as_secs_f64() * 1000.0,
        NUMBERS as f64 / cold.as_secs_f64(),
        after.0 - before.0,
        after.1 - before.1,
    );
    let mut cached: Vec<Duration> = Vec::with_capacity(CACHED_RUNS);
    for _ in 0..CACHED_RUNS {
        cached.push(post(linked, route, phones).await);
    }
    assert_eq!(
        usync(linked).await,
        after,
        "cached passes ask WhatsApp nothing"
    );
    cached.sort();
    let median = cached[CACHED_RUNS / 2];
    println!(
        "{name:<8} cached: {NUMBERS} numbers in {:>8.1} ms median ({:.1}–{:.1} ms over {CACHED_RUNS} runs) = {:>9.0} numbers/s; 0 usync queries (target < 200 ms)",
        median.as_secs_f64() * 1000.0,
        cached[0].as_secs_f64() * 1000.0,
        cached[CACHED_RUNS - 1].as_secs_f64() * 1000.0,
        NUMBERS as f64 / median.as_secs_f64(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run());
}
