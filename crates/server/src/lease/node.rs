//! Who this process is among the nodes sharing the database: its id and the URL the
//! others reach it at.
//!
//! Without `--node-id`, the id is generated once (`<hostname>-<6 hex>`) and kept in
//! `<data-dir>/node-id`: a process restarted after a crash finds its sessions' leases
//! still under its own id and takes them back at once, instead of waiting for them to
//! expire; and `/health` names the same node across restarts. The file is locked while
//! the process runs, so a second process on the same data dir (several nodes on one
//! SQLite file, tests) does not take the same id: it gets a fresh one for its lifetime.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use wacontacts_core::lease::NodeId;

/// This process's node id, and the lock that keeps it ours while we run.
#[derive(Debug)]
pub struct Identity {
    pub id: NodeId,
    /// The locked `node-id` file (dropped, hence unlocked, with the process).
    _lock: Option<File>,
}

impl Identity {
    /// Whether the id is the data dir's, locked by this process: no other process on
    /// this machine runs under it.
    pub fn is_locked(&self) -> bool {
        self._lock.is_some()
    }

    /// `configured` when given, else the data dir's id (created when missing), else
    /// (another process holds that one) a fresh id for this run.
    pub fn resolve(configured: Option<NodeId>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(id) = configured {
            return Ok(Self { id, _lock: None });
        }
        let path = data_dir.join("node-id");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("Failed to open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let id = generated();
                tracing::info!(node = %id, "another process uses this data dir's node id; this one runs as a new node");
                return Ok(Self { id, _lock: None });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("Failed to lock {}", path.display()));
            }
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        let id = match NodeId::parse(text.trim()) {
            Ok(id) => id,
            Err(_) => {
                let id = generated();
                file.set_len(0)?;
                file.rewind()?;
                file.write_all(id.as_str().as_bytes())
                    .with_context(|| format!("Failed to write {}", path.display()))?;
                id
            }
        };
        Ok(Self {
            id,
            _lock: Some(file),
        })
    }
}

/// `<hostname>-<6 random hex digits>`.
fn generated() -> NodeId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let suffix = format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff);
    NodeId::sanitized(&host, &suffix)
}

/// The URL other nodes use to reach this one: `configured` (trailing `/` dropped), else
/// `http://<bound address>`, with a wildcard address replaced by this host's name.
pub fn advertised_url(configured: Option<&str>, bound: SocketAddr) -> String {
    if let Some(url) = configured {
        return url.trim_end_matches('/').to_owned();
    }
    if bound.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        return format!("http://{host}:{}", bound.port());
    }
    format!("http://{bound}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_kept_in_the_data_dir_and_not_shared_by_two_processes() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::resolve(None, dir.path()).unwrap();
        let stored = std::fs::read_to_string(dir.path().join("node-id")).unwrap();
        assert_eq!(stored, first.id.as_str());
        // A second holder of the same data dir (the lock is per open file) gets its own id.
        let second = Identity::resolve(None, dir.path()).unwrap();
        assert_ne!(second.id, first.id);
        let kept = first.id.clone();
        drop(second);
        drop(first);
        let again = Identity::resolve(None, dir.path()).unwrap();
        assert_eq!(again.id, kept, "a restart keeps its id");
        let named = Identity::resolve(Some(NodeId::parse("web-1").unwrap()), dir.path()).unwrap();
        assert_eq!(named.id.as_str(), "web-1");
    }

    #[test]
    fn the_advertised_url_defaults_to_the_bound_address() {
        let bound: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(advertised_url(None, bound), "http://127.0.0.1:4000");
        assert_eq!(
            advertised_url(Some("https://n1.example/"), bound),
            "https://n1.example"
        );
        let any: SocketAddr = "0.0.0.0:4000".parse().unwrap();
        assert!(advertised_url(None, any).ends_with(":4000"));
        assert!(!advertised_url(None, any).contains("0.0.0.0"));
    }
}
