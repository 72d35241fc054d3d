//! One linked WhatsApp account: pairing (QR or pair code), login with stored
//! credentials, reconnects, stop, logout and wiping of its device state.
//!
//! Each running session is one whatsapp-rust client driven by its own run loop
//! (reconnects with whatsapp-rust's Fibonacci backoff, 1 s → 15 min), plus two
//! small tokio tasks: a watcher that notices when the run loop ends and a pump that
//! feeds contact events to the sink in arrival order. No threads, no buffers beyond
//! the events in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use wacontacts_core::ports::ContactEventSink;
use wacontacts_core::session::{SessionName, SessionStatus};
use wacontacts_store::device::{DeviceHandle, Devices, LegacyDeviceDb};
use whatsapp_rust::Client;
use whatsapp_rust::bot::Bot;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::{Event, EventHandler, EventInterest, EventKind};
use whatsapp_rust::wacore::store::DevicePropsOverride;

use crate::app_state_catch_up::CatchUp;
use crate::config::{EngineConfig, is_inside};
use crate::error::EngineError;
use crate::events;

pub use wacontacts_core::session::{Me, SessionState};

/// A change of a session's status, broadcast by [`crate::Engine::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The session that changed.
    pub session: SessionName,
    /// Its state after the change.
    pub state: SessionState,
}

/// A new QR code of a session in SCAN_QR_CODE, broadcast by
/// [`crate::Engine::subscribe_qr`] each time WhatsApp rotates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The session showing it.
    pub session: SessionName,
    /// The raw QR string (what [`crate::Engine::qr`] returns).
    pub code: String,
}

/// What every session of one engine shares.
pub(crate) struct Shared {
    pub(crate) config: EngineConfig,
    pub(crate) sink: Arc<dyn ContactEventSink>,
    /// Device state of every session (whatsapp-rust's keys), in our database.
    pub(crate) devices: Devices,
    pub(crate) status_tx: broadcast::Sender<StatusChange>,
    pub(crate) qr_tx: broadcast::Sender<QrCode>,
    /// Set by [`crate::Engine::shutdown`]: no session starts any more.
    pub(crate) closed: AtomicBool,
    /// The HTTP client every session's client shares (one pool, one TLS config).
    pub(crate) http: crate::http::EngineHttp,
    /// Turns for logins with stored keys ([`EngineConfig::max_concurrent_logins`]).
    pub(crate) logins: Arc<tokio::sync::Semaphore>,
    /// LID↔phone mappings in memory, for all sessions ([`EngineConfig::lid_cache_bytes`]).
    pub(crate) lid_memory: crate::caches::LidMemory,
}

/// One linked (or linking) account.
pub(crate) struct Session {
    pub(crate) name: SessionName,
    shared: Arc<Shared>,
    inner: Mutex<Inner>,
    /// Serializes start/stop/logout/delete of this session.
    op: tokio::sync::Mutex<()>,
}

struct Inner {
    state: SessionState,
    qr: Option<String>,
    /// Bumped on every start, so events of an old client are ignored.
    generation: u64,
    run: Option<Running>,
    /// Set while the engine itself stops or logs out this session: the events
    /// that follow are expected and must not turn the session FAILED.
    intentional: bool,
    /// Set by shutdown: state changes are no longer broadcast, so the statuses
    /// the lead persisted survive for the next start of the server.
    muted: bool,
    /// Set by delete: the engine forgets this object, so a start queued behind
    /// the delete must not bring up a client nobody can see or stop.
    deleted: bool,
}

struct Running {
    client: Arc<Client>,
    /// The client's device state; closed once the client has ended.
    device: DeviceHandle,
    /// Keeps whatsapp-rust forwarding raw stanzas: blocklist changes made on the
    /// account's other devices arrive only that way (`account_sync` notifications).
    _raw_nodes: whatsapp_rust::RawNodeLease,
    /// Orders the blocklist snapshot taken after each connect against the changes
    /// the pump applies meanwhile.
    blocklist: Arc<events::BlocklistOrder>,
    /// Ends when the client's run loop has ended (`None` only while starting).
    watcher: Option<JoinHandle<()>>,
    /// Dropped with the run: a login turn still held for this client is given back
    /// then, not when the connect timeout ends.
    _turn_release: tokio::sync::oneshot::Sender<()>,
}

/// Marks the session FAILED with `reason`.
fn fail(shared: &Shared, name: &SessionName, inner: &mut MutexGuard<'_, Inner>, reason: String) {
    set_state(shared, name, inner, SessionStatus::Failed, Some(reason));
}

/// Emits our status to the broadcast and applies it, unless muted.
fn set_state(
    shared: &Shared,
    name: &SessionName,
    inner: &mut MutexGuard<'_, Inner>,
    status: SessionStatus,
    reason: Option<String>,
) {
    if inner.state.status == status && inner.state.reason == reason {
        return;
    }
    tracing::info!(
        session = %name,
        status = status.as_str(),
        reason = reason.as_deref().unwrap_or(""),
        "session status"
    );
    inner.state.status = status;
    inner.state.reason = reason;
    if status != SessionStatus::ScanQrCode {
        inner.qr = None;
    }
    if inner.muted {
        return;
    }
    let _ = shared.status_tx.send(StatusChange {
        session: name.clone(),
        state: inner.state.clone(),
    });
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    pub(crate) fn new(name: SessionName, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Self {
            name,
            shared,
            inner: Mutex::new(Inner {
                state: SessionState::stopped(),
                qr: None,
                generation: 0,
                run: None,
                intentional: false,
                muted: false,
                deleted: false,
            }),
            op: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn state(&self) -> SessionState {
        lock(&self.inner).state.clone()
    }

    pub(crate) fn qr(&self) -> Option<String> {
        lock(&self.inner).qr.clone()
    }

    /// The running client, if any (linked or not).
    pub(crate) fn client(&self) -> Option<Arc<Client>> {
        lock(&self.inner).run.as_ref().map(|r| r.client.clone())
    }

    pub(crate) fn is_running(&self) -> bool {
        lock(&self.inner).run.is_some()
    }

    fn set(&self, status: SessionStatus, reason: Option<String>) {
        let mut inner = lock(&self.inner);
        set_state(&self.shared, &self.name, &mut inner, status, reason);
    }

    /// Starts the session: a new device shows QR codes, stored credentials log
    /// in. Idempotent while running.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<(), EngineError> {
        let _op = self.op.lock().await;
        self.start_locked().await
    }

    async fn start_locked(self: &Arc<Self>) -> Result<(), EngineError> {
        let generation = {
            let mut inner = lock(&self.inner);
            if inner.muted || self.shared.closed.load(Ordering::Relaxed) {
                return Err(EngineError::ShuttingDown);
            }
            if inner.deleted {
                return Err(EngineError::NotRunning);
            }
            if inner.run.is_some() {
                return Ok(());
            }
            inner.generation += 1;
            inner.intentional = false;
            inner.state.me = None;
            set_state(
                &self.shared,
                &self.name,
                &mut inner,
                SessionStatus::Starting,
                None,
            );
            inner.generation
        };
        match self.spawn_client(generation).await {
            Ok(()) => Ok(()),
            // Not a failure of the session: the server is stopping.
            Err(e @ EngineError::ShuttingDown) => Err(e),
            Err(e) => {
                self.set(SessionStatus::Failed, Some(e.to_string()));
                Err(e)
            }
        }
    }

    async fn spawn_client(self: &Arc<Self>, generation: u64) -> Result<(), EngineError> {
        let config = &self.shared.config;
        self.import_legacy().await?;
        let device = self.shared.devices.handle(&self.name);

        let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
        let catch_up = Arc::new(CatchUp::default());
        let handler = Handler {
            session: Arc::downgrade(self),
            generation,
            events: event_tx,
            catch_up: catch_up.clone(),
        };
        let transport = match &config.whatsapp_url {
            Some(url) => TokioWebSocketTransportFactory::new().with_url(url.clone()),
            None => TokioWebSocketTransportFactory::new(),
        };
        let lid_store = self
            .shared
            .lid_memory
            .store_for(device.clone(), self.name.as_str());
        let mut builder = Bot::builder()
            .with_backend(device.clone())
            .with_cache_config(crate::caches::session_cache_config(Arc::new(lid_store)))
            .with_transport_factory(transport)
            .with_http_client(self.shared.http.clone())
            .with_event_handler(handler);
        if let Some(version) = config.client_version {
            builder = builder.with_version(version);
        }
        if let Some(name) = &config.device_name {
            builder = builder.with_device_props(DevicePropsOverride::new().with_os(name.clone()));
        }
        if let Some(count) = config.pre_key_count {
            builder = builder.with_wanted_pre_key_count(count);
        }
        let bot = builder
            .build()
            .await
            .map_err(|e| EngineError::Device(e.to_string()))?;
        let client = bot.client();
        catch_up.attach(&client);
        let weak_client = Arc::downgrade(&client);
        let blocklist = Arc::new(events::BlocklistOrder::default());
        // Stored keys: wait for a login turn (see `max_concurrent_logins`). Shutdown
        // closes the turns: a session still waiting then never connects.
        let login_turn = match client.pn() {
            Some(_) => match self.shared.logins.clone().acquire_owned().await {
                Ok(turn) => Some(turn),
                Err(_) => {
                    device.close();
                    return Err(EngineError::ShuttingDown);
                }
            },
            None => None,
        };
        let (turn_release, run_ended) = tokio::sync::oneshot::channel::<()>();
        {
            // Published before the run loop starts, so its first events find it.
            let mut inner = lock(&self.inner);
            // Stored keys: the account is known before login.
            inner.state.me = me_of(&client);
            inner.run = Some(Running {
                _raw_nodes: client.acquire_raw_node_forwarding(),
                client,
                device,
                blocklist: blocklist.clone(),
                watcher: None,
                _turn_release: turn_release,
            });
        }
        tokio::spawn(events::pump(
            self.shared.sink.clone(),
            self.name.clone(),
            weak_client.clone(),
            event_rx,
            blocklist,
        ));
        let handle = bot.spawn();
        if let Some(turn) = login_turn {
            let (client, limit) = (weak_client, config.connect_timeout);
            // Held until the client is ready, or its run is dropped (stop, logout,
            // restart, end of the run loop), or the connect timeout.
            tokio::spawn(async move {
                if let Some(client) = client.upgrade() {
                    tokio::select! {
                        _ = client.wait_for_connected(limit) => {}
                        _ = run_ended => {}
                    }
                }
                drop(turn);
            });
        }
        let weak = Arc::downgrade(self);
        let watcher = tokio::spawn(async move {
            handle.await;
            if let Some(session) = weak.upgrade() {
                session.on_run_exit(generation);
            }
        });
        let mut inner = lock(&self.inner);
        let current = inner.generation == generation;
        match inner.run.as_mut() {
            Some(run) if current => run.watcher = Some(watcher),
            // Already ended (or replaced): the watcher has nothing left to do.
            _ => drop(watcher),
        }
        Ok(())
    }

    /// Moves a session's `device.db` of an older version into the database (first
    /// start after the upgrade): the session logs in with its keys, no new scan.
    async fn import_legacy(&self) -> Result<(), EngineError> {
        let path = self.shared.config.device_db(&self.name);
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        let report = self
            .shared
            .devices
            .import_legacy(&self.name, &LegacyDeviceDb { path })
            .await
            .map_err(|e| EngineError::Device(format!("cannot import device.db: {e:#}")))?;
        if let Some(report) = report {
            tracing::info!(
                session = %self.name,
                signal_sessions = report.count("wa_sessions"),
                prekeys = report.count("wa_prekeys"),
                "imported the session's device.db into the database"
            );
        }
        Ok(())
    }

    /// The client's run loop ended (stop, logout, QR timeout, refused login).
    fn on_run_exit(&self, generation: u64) {
        let mut inner = lock(&self.inner);
        if inner.generation != generation {
            return;
        }
        inner.run = None;
        if inner.intentional {
            return;
        }
        match inner.state.status {
            SessionStatus::Starting | SessionStatus::ScanQrCode | SessionStatus::Working => {
                set_state(
                    &self.shared,
                    &self.name,
                    &mut inner,
                    SessionStatus::Failed,
                    Some("the connection to WhatsApp ended".into()),
                );
            }
            SessionStatus::Stopped | SessionStatus::Failed => {}
        }
    }

    /// Disconnects the client (if running) and waits for its run loop to end.
    /// Credentials stay.
    async fn halt(&self) {
        let run = {
            let mut inner = lock(&self.inner);
            inner.intentional = true;
            let run = inner.run.take();
            if run.is_some() {
                // The halted client may still emit an event on its way out (a QR
                // code): from now on its events are stale (seen: a late QR code
                // recorded SCAN_QR_CODE for a session just stopped).
                inner.generation += 1;
            }
            run
        };
        if let Some(run) = run {
            run.client.disconnect().await;
            if let Some(mut watcher) = run.watcher
                && tokio::time::timeout(Duration::from_secs(10), &mut watcher)
                    .await
                    .is_err()
            {
                watcher.abort();
            }
            // The device row as it is now, then no more writes from this client's
            // detached tasks (sweeps, LID persistence): a wipe that follows stays wiped.
            if let Err(e) = run.client.persistence_manager().flush().await {
                tracing::warn!(session = %self.name, error = %e, "final device save failed");
            }
            run.device.close();
        }
    }

    /// Stops the session, keeping its credentials.
    pub(crate) async fn stop(&self) -> Result<(), EngineError> {
        let _op = self.op.lock().await;
        self.halt().await;
        let mut inner = lock(&self.inner);
        inner.state.me = None;
        set_state(
            &self.shared,
            &self.name,
            &mut inner,
            SessionStatus::Stopped,
            None,
        );
        Ok(())
    }

    /// Unlinks the device on WhatsApp (when it can reach WhatsApp) and wipes its
    /// keys. A session that is not running is started for the unlink, for at most
    /// the connect timeout.
    pub(crate) async fn logout(self: &Arc<Self>) -> Result<(), EngineError> {
        let _op = self.op.lock().await;
        if !self.is_running() && self.has_keys().await {
            // Best effort: a session that cannot connect is still wiped below.
            let _ = self.start_locked().await;
        }
        if let Some(client) = self.client() {
            if client.pn().is_some() {
                let timeout = self.shared.config.connect_timeout;
                let _ = client.wait_for_connected(timeout).await;
            }
            lock(&self.inner).intentional = true;
            if client.is_logged_in() {
                let _ =
                    tokio::time::timeout(self.shared.config.call_timeout, client.logout()).await;
            }
        }
        self.halt().await;
        self.wipe().await?;
        let mut inner = lock(&self.inner);
        inner.state.me = None;
        set_state(
            &self.shared,
            &self.name,
            &mut inner,
            SessionStatus::Stopped,
            Some("logged out".into()),
        );
        Ok(())
    }

    /// Stops the session and removes its device state.
    pub(crate) async fn delete(&self) -> Result<(), EngineError> {
        let _op = self.op.lock().await;
        self.halt().await;
        self.wipe().await?;
        let mut inner = lock(&self.inner);
        inner.deleted = true;
        inner.state.me = None;
        set_state(
            &self.shared,
            &self.name,
            &mut inner,
            SessionStatus::Stopped,
            None,
        );
        Ok(())
    }

    /// Whether the session has the keys of a linked device, worth unlinking: a device
    /// row that knows its phone number, or a legacy `device.db` not imported yet.
    async fn has_keys(&self) -> bool {
        self.shared
            .devices
            .is_linked(&self.name)
            .await
            .unwrap_or(false)
            || tokio::fs::try_exists(self.shared.config.device_db(&self.name))
                .await
                .unwrap_or(false)
    }

    /// Deletes the session's device state (its rows; one DELETE that cascades) and
    /// its directory (a legacy or set-aside `device.db`). Missing is fine.
    async fn wipe(&self) -> Result<(), EngineError> {
        self.shared
            .devices
            .wipe(&self.name)
            .await
            .map_err(|e| EngineError::Device(format!("{e:#}")))?;
        let config = &self.shared.config;
        let dir = config.session_dir(&self.name);
        if !is_inside(&config.data_dir, &dir) {
            return Err(EngineError::Device("session dir outside data dir".into()));
        }
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::Device(format!(
                "cannot remove {}: {e}",
                dir.display()
            ))),
        }
    }

    /// Asks WhatsApp for a pair code for `phone_digits` (country code included),
    /// starting the session first when needed. The code is entered on the phone
    /// under Linked devices → Link with phone number.
    pub(crate) async fn request_code(
        self: &Arc<Self>,
        phone_digits: &str,
    ) -> Result<String, EngineError> {
        let digits: String = phone_digits
            .chars()
            .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
            .collect();
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EngineError::InvalidPhone(
                "expected 7 to 15 digits with the country code".into(),
            ));
        }
        self.start().await?;
        let client = self.client().ok_or(EngineError::NotRunning)?;
        if client.pn().is_some() {
            return Err(EngineError::AlreadyLinked);
        }
        client
            .wait_for_socket(self.shared.config.connect_timeout)
            .await
            .map_err(|_| EngineError::Timeout)?;
        let options = PairCodeOptions {
            phone_number: digits,
            ..Default::default()
        };
        let result = tokio::time::timeout(
            self.shared.config.call_timeout,
            client.pair_with_code(options),
        )
        .await
        .map_err(|_| EngineError::Timeout)?;
        match result {
            Ok(code) => {
                let mut inner = lock(&self.inner);
                if inner.state.status == SessionStatus::Starting {
                    set_state(
                        &self.shared,
                        &self.name,
                        &mut inner,
                        SessionStatus::ScanQrCode,
                        None,
                    );
                }
                Ok(code)
            }
            Err(e) => {
                use whatsapp_rust::wacore::pair_code::PairCodeRejection as R;
                match e.rejection() {
                    Some(R::RateOverlimit | R::BadRequest) => Err(EngineError::RateLimited),
                    _ => Err(EngineError::WhatsApp(e.to_string())),
                }
            }
        }
    }

    /// Disconnects without touching the state others see (server shutdown).
    pub(crate) async fn shutdown(&self) {
        let _op = self.op.lock().await;
        lock(&self.inner).muted = true;
        self.halt().await;
    }

    /// The configured QR timeout passed: a session of `generation` still waiting
    /// for a scan gives up, as it does when WhatsApp's QR codes run out.
    async fn qr_timed_out(&self, generation: u64) {
        let _op = self.op.lock().await;
        {
            let inner = lock(&self.inner);
            if inner.generation != generation || inner.state.status != SessionStatus::ScanQrCode {
                return;
            }
        }
        // Disconnected first: once FAILED shows, the code on screen is dead.
        self.halt().await;
        let mut inner = lock(&self.inner);
        fail(
            &self.shared,
            &self.name,
            &mut inner,
            "no QR code was scanned in time".into(),
        );
    }

    /// Lifecycle events, handled inline on whatsapp-rust's dispatch path: only
    /// state updates here, anything slow is spawned.
    #[allow(clippy::collapsible_match)] // one arm per event kind reads better
    fn on_event(self: &Arc<Self>, generation: u64, event: &Event) {
        let mut inner = lock(&self.inner);
        if inner.generation != generation {
            return;
        }
        let shared = &self.shared;
        let name = &self.name;
        match event {
            Event::PairingQrCode(qr) => {
                if inner.state.status != SessionStatus::Working {
                    if inner.state.status != SessionStatus::ScanQrCode
                        && let Some(limit) = shared.config.qr_timeout
                    {
                        let session = Arc::downgrade(self);
                        tokio::spawn(async move {
                            tokio::time::sleep(limit).await;
                            if let Some(session) = session.upgrade() {
                                session.qr_timed_out(generation).await;
                            }
                        });
                    }
                    inner.qr = Some(qr.code.clone());
                    set_state(shared, name, &mut inner, SessionStatus::ScanQrCode, None);
                    if !inner.muted {
                        let _ = shared.qr_tx.send(QrCode {
                            session: name.clone(),
                            code: qr.code.clone(),
                        });
                    }
                }
            }
            Event::PairSuccess(_) => {
                set_state(shared, name, &mut inner, SessionStatus::Starting, None);
            }
            Event::Connected(_) => {
                let run = inner
                    .run
                    .as_ref()
                    .map(|r| (r.client.clone(), r.blocklist.clone()));
                if let Some((client, blocklist)) = run {
                    inner.state.me = me_of(&client);
                    if inner.state.status == SessionStatus::Working {
                        // Only `me` may have changed: tell anyway.
                        if !inner.muted {
                            let _ = shared.status_tx.send(StatusChange {
                                session: name.clone(),
                                state: inner.state.clone(),
                            });
                        }
                    } else {
                        set_state(shared, name, &mut inner, SessionStatus::Working, None);
                    }
                    drop(inner);
                    tokio::spawn(events::after_connect(
                        shared.sink.clone(),
                        name.clone(),
                        client,
                        blocklist,
                        shared.config.call_timeout,
                    ));
                }
            }
            Event::SelfPushNameUpdated(update) => {
                if let Some(me) = inner.state.me.as_mut() {
                    me.push_name = update.new_name.clone();
                }
            }
            Event::Disconnected(_) => {
                if !inner.intentional && inner.state.status == SessionStatus::Working {
                    set_state(shared, name, &mut inner, SessionStatus::Starting, None);
                }
            }
            Event::LoggedOut(out) => {
                if !inner.intentional {
                    let reason = if out.on_connect {
                        format!(
                            "WhatsApp refused the login ({:?}): the device was unlinked",
                            out.reason
                        )
                    } else {
                        "logged out from the phone: the device was unlinked".to_string()
                    };
                    inner.intentional = true;
                    inner.state.me = None;
                    fail(shared, name, &mut inner, reason);
                    drop(inner);
                    // Its keys are worthless now: wipe them, so the next start shows a QR.
                    let session = self.clone();
                    tokio::spawn(async move {
                        let _op = session.op.lock().await;
                        if lock(&session.inner).generation != generation {
                            return;
                        }
                        session.halt().await;
                        let _ = session.wipe().await;
                    });
                }
            }
            Event::StreamReplaced(_) => {
                if !inner.intentional {
                    fail(
                        shared,
                        name,
                        &mut inner,
                        "another connection replaced this session".into(),
                    );
                }
            }
            Event::TemporaryBan(ban) => {
                fail(
                    shared,
                    name,
                    &mut inner,
                    format!("temporarily banned: {}", ban.code),
                );
            }
            Event::ConnectFailure(failure) => {
                if !failure.reason.should_reconnect() && !failure.reason.is_logged_out() {
                    fail(
                        shared,
                        name,
                        &mut inner,
                        format!("WhatsApp refused the connection: {:?}", failure.reason),
                    );
                }
            }
            Event::ClientOutdated(_) => {
                fail(
                    shared,
                    name,
                    &mut inner,
                    "WhatsApp says this client version is outdated".into(),
                );
            }
            Event::PairError(err) => {
                fail(
                    shared,
                    name,
                    &mut inner,
                    format!("pairing failed: {}", err.error),
                );
            }
            Event::PairingQrCodesExhausted(ex) => {
                if ex.disconnected {
                    inner.intentional = true;
                    fail(
                        shared,
                        name,
                        &mut inner,
                        "no QR code was scanned in time".into(),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The linked account as the client's device store knows it.
fn me_of(client: &Client) -> Option<Me> {
    let pn = client.pn()?;
    Some(Me {
        id: format!("{}@c.us", pn.user),
        push_name: client.push_name(),
        lid: client.lid().map(|lid| format!("{}@lid", lid.user)),
        jid: pn.to_string(),
    })
}

/// Lifecycle kinds the session itself reacts to.
const LIFECYCLE: &[EventKind] = &[
    EventKind::PairingQrCode,
    EventKind::PairSuccess,
    EventKind::PairError,
    EventKind::PairingQrCodesExhausted,
    EventKind::Connected,
    EventKind::Disconnected,
    EventKind::LoggedOut,
    EventKind::StreamReplaced,
    EventKind::TemporaryBan,
    EventKind::ConnectFailure,
    EventKind::ClientOutdated,
    EventKind::SelfPushNameUpdated,
];

/// Contact events queued per session between the client and the pump. When full,
/// the client waits (see [`Handler`]): memory stays bounded and nothing is dropped.
const EVENT_QUEUE: usize = 256;

/// whatsapp-rust's event handler of one client: lifecycle inline, contact
/// events queued for the pump.
struct Handler {
    session: Weak<Session>,
    generation: u64,
    events: mpsc::Sender<Arc<Event>>,
    /// A second look after `server_sync` notifications.
    catch_up: Arc<CatchUp>,
}

/// Queues a contact event for the pump. A full queue (the store is slow or failing)
/// holds the client's own task until there is room, which stalls its reading from
/// WhatsApp: backpressure, never a dropped fact. Outside a multi-threaded runtime
/// (we never run in one) a task waits for room instead, which keeps the event but
/// may reorder it.
fn enqueue<T: Send + 'static>(events: &mpsc::Sender<T>, event: T) {
    use tokio::sync::mpsc::error::TrySendError;
    let event = match events.try_send(event) {
        Ok(()) | Err(TrySendError::Closed(_)) => return,
        Err(TrySendError::Full(event)) => event,
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(|| {
            let _ = events.blocking_send(event);
        });
    } else {
        let events = events.clone();
        tokio::spawn(async move {
            let _ = events.send(event).await;
        });
    }
}

impl EventHandler for Handler {
    fn handle_event(&self, event: Arc<Event>) {
        let kind = event.kind();
        if LIFECYCLE.contains(&kind)
            && let Some(session) = self.session.upgrade()
        {
            session.on_event(self.generation, &event);
        }
        if kind == EventKind::RawNode {
            self.catch_up.on_event(&event);
        }
        if events::CONTACT_KINDS.contains(&kind)
            || (kind == EventKind::RawNode && events::is_blocklist_stanza(&event))
        {
            enqueue(&self.events, event);
        }
    }

    fn interest(&self) -> EventInterest {
        EventInterest::of(LIFECYCLE)
            .union(EventInterest::of(events::CONTACT_KINDS))
            .union(EventInterest::of(&[EventKind::RawNode]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use wacontacts_core::contact::{AddressBookEntry, BlocklistUpdate, NumberChange};
    use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
    use wacontacts_core::ports::StoreResult;
    use whatsapp_rust::types::events::{
        Connected, Disconnected, LoggedOut, PairingQrCode, PairingQrCodesExhausted, StreamReplaced,
    };
    use whatsapp_rust::wacore::net::DisconnectReason;
    use whatsapp_rust::wacore::types::events::ConnectFailureReason;

    struct NoSink;

    #[async_trait]
    impl ContactEventSink for NoSink {
        async fn address_book_contact(
            &self,
            _: &SessionName,
            _: AddressBookEntry,
        ) -> StoreResult<()> {
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

    async fn session(dir: &std::path::Path) -> (Arc<Session>, broadcast::Receiver<StatusChange>) {
        let store = wacontacts_store::Store::open_in_dir(&dir.join("db"))
            .await
            .unwrap();
        let (status_tx, rx) = broadcast::channel(64);
        let (qr_tx, _) = broadcast::channel(64);
        // Never the real WhatsApp: a closed local port.
        let mut config = EngineConfig::new(dir);
        config.whatsapp_url = Some("ws://127.0.0.1:9/ws/chat".into());
        let shared = Arc::new(Shared {
            config,
            sink: Arc::new(NoSink),
            devices: store.devices(),
            status_tx,
            qr_tx,
            closed: AtomicBool::new(false),
            logins: Arc::new(tokio::sync::Semaphore::new(4)),
            http: crate::http::EngineHttp::new(None),
            lid_memory: crate::caches::LidMemory::new(1 << 20),
        });
        let s = Session::new(SessionName::parse("unit").unwrap(), shared);
        lock(&s.inner).state.status = SessionStatus::Starting;
        (s, rx)
    }

    fn qr(code: &str) -> Event {
        Event::PairingQrCode(
            PairingQrCode::builder()
                .code(code.into())
                .timeout(Duration::from_secs(60))
                .build(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_event_queue_holds_the_sender_and_loses_nothing() {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        // The client's side: more events than the queue holds, from a task, as
        // whatsapp-rust calls the handler.
        let sender = tokio::spawn(async move {
            for i in 0..10 {
                enqueue(&tx, i);
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while rx.len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "queue never filled");
            tokio::task::yield_now().await;
        }
        assert!(!sender.is_finished(), "the sender waits for room");
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            got.push(i);
        }
        sender.await.unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>(), "all, in order");
    }

    #[tokio::test]
    async fn qr_codes_then_exhaustion_fail_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (s, mut rx) = session(dir.path()).await;
        s.on_event(0, &qr("ref1,a,b,c"));
        assert_eq!(s.state().status, SessionStatus::ScanQrCode);
        assert_eq!(s.qr().as_deref(), Some("ref1,a,b,c"));
        s.on_event(0, &qr("ref2,a,b,c"));
        assert_eq!(s.qr().as_deref(), Some("ref2,a,b,c"), "rotated");
        // Events of an older client are ignored.
        s.on_event(7, &qr("stale"));
        assert_eq!(s.qr().as_deref(), Some("ref2,a,b,c"));
        s.on_event(
            0,
            &Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(true)
                    .build(),
            ),
        );
        let state = s.state();
        assert_eq!(state.status, SessionStatus::Failed);
        assert!(state.reason.unwrap().contains("QR"));
        assert_eq!(s.qr(), None);
        // One broadcast per status change, not per QR.
        let mut seen = Vec::new();
        while let Ok(c) = rx.try_recv() {
            seen.push(c.state.status);
        }
        assert_eq!(seen, vec![SessionStatus::ScanQrCode, SessionStatus::Failed]);
    }

    #[tokio::test]
    async fn drops_reconnect_and_phone_logout_fails_and_wipes() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _rx) = session(dir.path()).await;
        let keys = dir.path().join("sessions/unit");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("device.db"), b"x").unwrap();

        // Connected without a client (not running here) changes nothing.
        s.on_event(0, &Event::Connected(Connected::builder().build()));
        assert_eq!(s.state().status, SessionStatus::Starting);
        lock(&s.inner).state.status = SessionStatus::Working;
        s.on_event(
            0,
            &Event::Disconnected(
                Disconnected::builder()
                    .reason(DisconnectReason::StreamEnded)
                    .build(),
            ),
        );
        assert_eq!(s.state().status, SessionStatus::Starting, "reconnecting");

        s.on_event(
            0,
            &Event::LoggedOut(
                LoggedOut::builder()
                    .on_connect(false)
                    .reason(ConnectFailureReason::LoggedOut)
                    .build(),
            ),
        );
        let state = s.state();
        assert_eq!(state.status, SessionStatus::Failed);
        assert!(state.reason.unwrap().contains("logged out from the phone"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while keys.exists() {
            assert!(tokio::time::Instant::now() < deadline, "keys not wiped");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_start_queued_behind_a_delete_brings_up_no_client() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _rx) = session(dir.path()).await;
        s.delete().await.unwrap();
        // The engine has forgotten this object: a client here could never be stopped.
        assert_eq!(s.start().await, Err(EngineError::NotRunning));
        assert!(!s.is_running());
        assert!(
            !dir.path().join("sessions/unit").exists(),
            "no keys recreated"
        );
    }

    #[tokio::test]
    async fn intentional_stops_are_not_failures() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _rx) = session(dir.path()).await;
        lock(&s.inner).state.status = SessionStatus::Working;
        lock(&s.inner).intentional = true;
        s.on_event(
            0,
            &Event::LoggedOut(
                LoggedOut::builder()
                    .on_connect(false)
                    .reason(ConnectFailureReason::LoggedOut)
                    .build(),
            ),
        );
        s.on_event(0, &Event::StreamReplaced(StreamReplaced::builder().build()));
        s.on_run_exit(0);
        assert_eq!(s.state().status, SessionStatus::Working);

        lock(&s.inner).intentional = false;
        s.on_event(0, &Event::StreamReplaced(StreamReplaced::builder().build()));
        assert_eq!(s.state().status, SessionStatus::Failed);
    }
}
