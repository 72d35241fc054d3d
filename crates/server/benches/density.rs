//! Many sessions on one machine (issue 15): what each linked, idle session costs.
//!
//! Starts wasim (in this process, on its own port: the protocol peer, not measured) and
//! the server (the `wacontacts` binary cargo built for this bench, as a child process,
//! so that RSS, CPU and file descriptors read from `/proc/PID` are the server's own).
//! Then, as a user would: creates N sessions over the API, reads each QR code from
//! `GET /api/{session}/auth/qr?format=raw` and scans it through wasim (one account per
//! session), waits until all are WORKING, idles, and prints RSS (empty, N linked,
//! marginal per session), the time to link all, idle CPU over a window, p50/p99 of
//! `GET /api/sessions/{name}`, open fds and threads. Then stops the server (SIGTERM),
//! starts it again on the same data dir and times the restore until all are WORKING.
//!
//! Run: `cargo bench -p wacontacts --bench density` (N = 200).
//! Settings by environment:
//! - `DENSITY_N` sessions (200); `DENSITY_N=1000`, `DENSITY_N=10000` for the targets;
//! - `DENSITY_CONCURRENCY` sessions linked at once (32);
//! - `DENSITY_IDLE_SECS` the idle CPU window (20);
//! - `DENSITY_SAMPLES` requests timed for the latency percentiles (2000);
//! - `DENSITY_KEEP=1` keeps the data dir (its path is printed);
//! - `DENSITY_WRAP` a command the server runs under, for profiling (e.g.
//!   `DENSITY_WRAP=heaptrack`); the `/proc` figures are then the wrapper's, not the server's.
//!
//! The bench process (wasim and the HTTP clients) shares the machine's cores with the
//! server: times are wall-clock on a shared machine, CPU is the server's own counter.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

const KEY: &str = "density-bench-key";
const VERSION: &str = "2.3000.1000000000";
/// Every wait is bounded by this (per session while linking; in all while restoring).
const WAIT: Duration = Duration::from_secs(600);

struct Settings {
    n: usize,
    concurrency: usize,
    idle: Duration,
    samples: usize,
    keep: bool,
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        Self {
            n: env_usize("DENSITY_N", 200),
            concurrency: env_usize("DENSITY_CONCURRENCY", 32).max(1),
            idle: Duration::from_secs(env_usize("DENSITY_IDLE_SECS", 20) as u64),
            samples: env_usize("DENSITY_SAMPLES", 2000).max(1),
            keep: std::env::var("DENSITY_KEEP").is_ok_and(|v| v == "1"),
        }
    }
}

fn session_name(i: usize) -> String {
    format!("d{i:05}")
}

fn account(i: usize) -> String {
    format!("1556{i:07}")
}

/// What `/proc/PID` says of the server.
struct Proc(u32);

impl Proc {
    fn status_kib(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.0)).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Resident set size, KiB.
    fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Anonymous resident memory (heap, stacks), KiB: RSS without the pages of mapped
    /// files (the database is memory-mapped).
    fn anon_kib(&self) -> u64 {
        self.status_kib("RssAnon:")
    }

    fn threads(&self) -> u64 {
        self.status_kib("Threads:")
    }

    /// utime + stime, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).unwrap_or_default();
        // Fields after the command name (which may hold spaces): state is field 3.
        let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        field(11) + field(12)
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.0))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The server as a child process.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `wacontacts serve` on `data_dir` against wasim; returns once it listens.
    fn start(data_dir: &Path, ws_url: &str) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("server log");
        let binary = env!("CARGO_BIN_EXE_wacontacts");
        let wrap = std::env::var("DENSITY_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(wrapper) => {
                let mut c = Command::new(wrapper);
                c.args(words).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--whatsapp-url", ws_url, "--whatsapp-version", VERSION])
            .env("WACONTACTS_API_KEY", KEY)
            .env_remove("WACONTACTS_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("wacontacts listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => panic!(
                    "the server exited before listening; see {}",
                    data_dir.join("server.log").display()
                ),
            }
        };
        // Keep reading so the pipe never fills.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    fn proc(&self) -> Proc {
        Proc(self.child.id())
    }

    /// SIGTERM, as a service manager stops it; waits for the exit.
    fn stop(mut self) -> Duration {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for the server");
        assert!(status.success(), "the server stopped with {status}");
        started.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(url: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            url: url.to_string(),
        }
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("X-Api-Key", KEY)
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("X-Api-Key", KEY)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Polls `probe` until it answers `Some`, every few ms up to [`WAIT`].
    async fn poll<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Creates session `i`, scans its QR as account `i`, waits until WORKING.
    async fn link(&self, wasim: &wasim::Wasim, i: usize) {
        let name = session_name(i);
        let (status, body) = self.post("/api/sessions", json!({ "name": name })).await;
        assert_eq!(status, 201, "create {name}: {body}");
        let qr_path = format!("/api/{name}/auth/qr?format=raw");
        let qr = self
            .poll("a QR code", || async {
                let (status, body) = self.get(&qr_path).await;
                (status == 200).then(|| body["value"].as_str().map(str::to_owned))?
            })
            .await;
        wasim
            .scan_qr(&qr, Some(&account(i)))
            .await
            .expect("wasim scans");
        let path = format!("/api/sessions/{name}");
        self.poll("WORKING", || async {
            let (_, body) = self.get(&path).await;
            (body["status"] == "WORKING").then_some(())
        })
        .await;
    }

    /// How many sessions are WORKING as `/health` counts them (the recorded statuses),
    /// once it agrees with `expected` or after 10 s.
    async fn recorded_working(&self, expected: usize) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, body) = self.get("/health").await;
            let counted = body["sessionCounts"]["WORKING"].as_u64().unwrap_or(0);
            if counted == expected as u64 || Instant::now() > deadline {
                return counted;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many sessions are WORKING, as the list answers.
    async fn working(&self) -> usize {
        let (status, body) = self.get("/api/sessions?all=true").await;
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .map(|a| a.iter().filter(|s| s["status"] == "WORKING").count())
            .unwrap_or(0)
    }
}

/// p-th percentile (0–100) of sorted durations, in ms.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Lets the server settle (tasks started by logins finish) before a memory reading:
/// waits until its RSS stops growing over a second, at most 30 s.
async fn settle(proc: &Proc) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = proc.rss_kib();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = proc.rss_kib();
        if now <= last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

async fn run(settings: Settings) {
    let n = settings.n;
    let hz = clock_ticks_per_second();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let wasim = wasim::Wasim::start(
        "127.0.0.1:0".parse().unwrap(),
        wasim::WasimConfig {
            max_connections: n + 64,
            snapshots: true,
            ..wasim::WasimConfig::default()
        },
    )
    .await
    .expect("wasim starts");
    let ws_url = wasim.ws_url();
    println!(
        "density: N={n}, {} linked at once, idle window {} s, {} samples; {} cores, load {}",
        settings.concurrency,
        settings.idle.as_secs(),
        settings.samples,
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );

    let server = tokio::task::block_in_place(|| Server::start(&data_dir, &ws_url));
    let api = Api::new(&server.url);
    let proc = server.proc();
    let empty = settle(&proc).await;
    let empty_fds = proc.open_fds();
    let empty_anon = proc.anon_kib();
    println!(
        "empty server: RSS {:.1} MiB (anonymous {:.1} MiB), {empty_fds} fds, {} threads",
        mib(empty),
        mib(empty_anon),
        proc.threads()
    );

    let cpu_before = proc.cpu_ticks();
    let started = Instant::now();
    let mut done = 0usize;
    let mut linking = futures::stream::iter(0..n)
        .map(|i| {
            let api = &api;
            let wasim = &wasim;
            async move { api.link(wasim, i).await }
        })
        .buffer_unordered(settings.concurrency);
    while linking.next().await.is_some() {
        done += 1;
        if done.is_multiple_of(1000) && done < n {
            println!(
                "  {done} linked after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    drop(linking);
    let link_time = started.elapsed();
    let link_cpu = (proc.cpu_ticks() - cpu_before) as f64 / hz;
    assert_eq!(api.working().await, n, "all WORKING");
    let recorded = api.recorded_working(n).await;
    println!(
        "linked {n} in {:.1} s ({:.0}/s); server CPU {:.1} s ({:.1} ms per session)",
        link_time.as_secs_f64(),
        n as f64 / link_time.as_secs_f64(),
        link_cpu,
        link_cpu * 1000.0 / n as f64,
    );
    println!("/health counts {recorded} of {n} WORKING (the recorded statuses)");

    let linked = settle(&proc).await;
    let fds = proc.open_fds();
    let threads = proc.threads();
    let per_session = (linked.saturating_sub(empty)) as f64 / n as f64;
    let anon = proc.anon_kib();
    println!(
        "{n} linked: RSS {:.1} MiB, marginal {per_session:.0} KiB per session (anonymous: {:.1} MiB, {:.0} KiB per session), {fds} fds, {threads} threads",
        mib(linked),
        mib(anon),
        anon.saturating_sub(empty_anon) as f64 / n as f64,
    );

    let cpu_before = proc.cpu_ticks();
    let window = Instant::now();
    tokio::time::sleep(settings.idle).await;
    let idle_cpu = (proc.cpu_ticks() - cpu_before) as f64 / hz / window.elapsed().as_secs_f64();
    println!(
        "idle CPU over {} s: {:.2} % of one core",
        settings.idle.as_secs(),
        idle_cpu * 100.0
    );

    let mut took = Vec::with_capacity(settings.samples);
    for k in 0..settings.samples {
        // Spread over the sessions (a fixed stride, co-prime with most N).
        let name = session_name((k * 7919) % n);
        let t = Instant::now();
        let (status, body) = api.get(&format!("/api/sessions/{name}")).await;
        took.push(t.elapsed());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "WORKING", "{body}");
    }
    took.sort();
    let (p50, p99, max) = (
        percentile(&took, 50.0),
        percentile(&took, 99.0),
        percentile(&took, 100.0),
    );
    println!(
        "GET /api/sessions/{{name}} while idle: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms over {}",
        settings.samples
    );

    let stop_time = tokio::task::block_in_place(|| server.stop());
    println!("stopped (SIGTERM) in {:.1} s", stop_time.as_secs_f64());
    let started = Instant::now();
    let server = tokio::task::block_in_place(|| Server::start(&data_dir, &ws_url));
    let api = Api::new(&server.url);
    let proc = server.proc();
    api.poll("all sessions WORKING after the restart", || async {
        (api.working().await == n).then_some(())
    })
    .await;
    let restore_time = started.elapsed();
    // The whole life of the new process so far: start-up and restore.
    let restore_cpu = proc.cpu_ticks() as f64 / hz;
    let after = settle(&proc).await;
    let recorded = api.recorded_working(n).await;
    println!("/health counts {recorded} of {n} WORKING after the restore");
    let after_anon = proc.anon_kib();
    println!(
        "restored {n} in {:.1} s (server CPU {restore_cpu:.1} s); RSS after restore {:.1} MiB ({:.0} KiB per session; anonymous {:.1} MiB, {:.0} KiB per session), {} fds",
        restore_time.as_secs_f64(),
        mib(after),
        after.saturating_sub(empty) as f64 / n as f64,
        mib(after_anon),
        after_anon.saturating_sub(empty_anon) as f64 / n as f64,
        proc.open_fds(),
    );
    println!();
    println!(
        "| N | RSS, empty server | RSS, N linked | marginal per session | link all | restore all after restart | idle CPU | GET session p50 / p99 | open fds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {:.0} MiB | {:.0} MiB | {per_session:.0} KiB | {:.1} s | {:.1} s | {:.1} % | {p50:.1} / {p99:.1} ms | {fds} |",
        mib(empty),
        mib(linked),
        link_time.as_secs_f64(),
        restore_time.as_secs_f64(),
        idle_cpu * 100.0,
    );
    drop(server);
    wasim.shutdown().await;
    if settings.keep {
        let kept = dir.keep();
        println!("data kept in {}", kept.display());
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let settings = Settings::from_env();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(settings));
}
