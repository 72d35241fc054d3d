//! Identity (security code) changes of contacts, On-Premises style: the latest
//! change of a contact as `{hash, created_timestamp, acknowledged}`, and
//! acknowledging it by repeating its hash.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::ids::ContactRef;
use crate::ports::{StoreError, StoreResult};
use crate::session::SessionName;

/// The hash of an identity key as On-Premises shows it: base64 of the first 8
/// bytes of SHA-256 of the 32-byte public key (e.g. `UKD6Y/5SqDU=`).
pub fn identity_hash(key: &[u8; 32]) -> String {
    let digest = Sha256::digest(key);
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// The latest identity change of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// [`identity_hash`] of the new key; `None` when the engine could not read the
    /// new key (the change is still reported).
    pub hash: Option<String>,
    /// Unix ms when the change was seen.
    pub created_ms: i64,
    /// Whether the user confirmed it (PUT with the hash).
    pub acknowledged: bool,
}

/// Identity changes as stored by the event sink.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The latest identity change of `who` (a phone finds changes recorded under
    /// its LID and the other way round once mapped); `None` when none was seen.
    async fn latest_identity(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> StoreResult<Option<IdentityRecord>>;

    /// Marks the latest identity change of `who` acknowledged.
    async fn acknowledge_identity(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> StoreResult<()>;
}

/// Why an identity read or acknowledgement failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No identity change of this contact was ever seen.
    #[error("no identity change is known for this contact")]
    NotFound,
    /// The hash given is not the latest one (or the latest has no hash).
    #[error("the hash does not match the contact's latest identity")]
    HashMismatch { given: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and acknowledges identity changes.
#[derive(Clone)]
pub struct IdentityService {
    store: Arc<dyn IdentityStore>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityService")
    }
}

impl IdentityService {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        IdentityService { store }
    }

    /// The latest identity change of `who`.
    pub async fn latest(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> Result<IdentityRecord, IdentityError> {
        self.store
            .latest_identity(session, who)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Acknowledges the latest identity change of `who` when `hash` is its hash
    /// (byte for byte); answers the record as it now stands.
    pub async fn acknowledge(
        &self,
        session: &SessionName,
        who: &ContactRef,
        hash: &str,
    ) -> Result<IdentityRecord, IdentityError> {
        let mut latest = self.latest(session, who).await?;
        if latest.hash.as_deref() != Some(hash) {
            return Err(IdentityError::HashMismatch {
                given: hash.to_owned(),
            });
        }
        self.store.acknowledge_identity(session, who).await?;
        latest.acknowledged = true;
        Ok(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_base64_of_eight_sha256_bytes() {
        // SHA-256 of 32 zero bytes starts 66 68 7a ad f8 62 bd 77.
        assert_eq!(identity_hash(&[0; 32]), "Zmh6rfhivXc=");
        assert_eq!(identity_hash(&[1; 32]).len(), 12);
    }
}
