//! A second look at app-state collections after `server_sync` notifications, so that
//! no address-book change is left on WhatsApp's side.
//!
//! WhatsApp tells a companion that a collection changed with
//! `<notification type="server_sync"><collection name="critical_unblock_low" …/>`, one
//! per change the phone makes. whatsapp-rust 0.7 fetches the collection for each, but
//! skips the fetch while a sync of that collection is in flight
//! (`ReservationWait::SkipBehindSync`), although that sync's request may have left
//! before the new patch existed. The patch then waits for the next notification, which
//! may never come: seen with contacts saved back to back, where the last one never
//! arrived. WhatsApp Web instead marks the collection dirty and syncs it again.
//!
//! Here every `server_sync` notes its collections; one task per client, after
//! [`QUIET`], asks whatsapp-rust to sync each noted collection through its
//! `AppStateSync` task, which waits for a sync in flight and then fetches from the
//! stored version, and goes round again while notifications keep coming. Cost: one
//! fetch per burst of changes, usually answered with no patch.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use whatsapp_rust::Client;
use whatsapp_rust::sync_task::MajorSyncTask;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::appstate::patch_decode::WAPatchName;

/// How long notifications must stop before the second look: a burst of changes costs
/// one fetch, and whatsapp-rust's own fetch usually runs first.
const QUIET: Duration = Duration::from_millis(500);

/// The collections of one client waiting for a second look.
#[derive(Default)]
pub(crate) struct CatchUp {
    client: OnceLock<Weak<Client>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    noted: HashSet<WAPatchName>,
    /// A task is running and will see what is noted before it ends.
    running: bool,
}

impl CatchUp {
    /// The client to sync with, once it is built.
    pub(crate) fn attach(&self, client: &Arc<Client>) {
        let _ = self.client.set(Arc::downgrade(client));
    }

    /// Notes the collections a `server_sync` notification names (a no-op for any other
    /// event), and starts the task when none runs.
    pub(crate) fn on_event(self: &Arc<Self>, event: &Event) {
        let names = server_sync_collections(event);
        if names.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.noted.extend(names);
        if state.running {
            return;
        }
        state.running = true;
        let this = self.clone();
        tokio::spawn(async move { this.run().await });
    }

    async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(QUIET).await;
            let noted: Vec<WAPatchName> = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.noted.is_empty() {
                    state.running = false;
                    return;
                }
                state.noted.drain().collect()
            };
            // Notifications come from a built client; gone, there is nothing to sync.
            let Some(client) = self.client.get().and_then(Weak::upgrade) else {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                state.noted.clear();
                state.running = false;
                return;
            };
            for name in noted {
                client
                    .process_sync_task(MajorSyncTask::AppStateSync {
                        name,
                        full_sync: false,
                    })
                    .await;
            }
        }
    }
}

/// The known collections a `<notification type="server_sync">` names; empty for any
/// other event.
fn server_sync_collections(event: &Event) -> Vec<WAPatchName> {
    let Event::RawNode(node) = event else {
        return Vec::new();
    };
    let node = node.get();
    if node.tag != "notification"
        || node.attrs().optional_string("type").as_deref() != Some("server_sync")
    {
        return Vec::new();
    }
    node.get_children_by_tag("collection")
        .filter_map(|c| {
            let name = c.attrs().optional_string("name")?;
            WAPatchName::from_str(&name)
                .ok()
                .filter(|n| *n != WAPatchName::Unknown)
        })
        .collect()
}
