//! wacore's `DeviceStore` (the account row: keys, identity, counters). The whole
//! `Device` is kept as serde JSON (new fields of later versions arrive with their
//! serde defaults), with `pn`/`lid` beside it so "is it linked" needs no decoding.

use std::sync::Arc;

use async_trait::async_trait;
use wacore::client_profile::ClientProfile;
use wacore::stats::StorageResourceReport;
use wacore::store::Device;
use wacore::store::device::DEVICE_PROPS;
use wacore::store::error::StoreError;
use wacore::store::traits::DeviceStore;

use super::{DeviceHandle, Result, db};

/// The JID text of an optional JID, `""` for none.
pub(super) fn jid_text(jid: Option<&impl ToString>) -> String {
    jid.map(ToString::to_string).unwrap_or_default()
}

/// The JSON of `device` (runtime-only fields are skipped by its serde attributes).
pub(super) fn encode(device: &Device) -> Result<Vec<u8>> {
    serde_json::to_vec(device).map_err(|e| StoreError::Serialization(Box::new(e)))
}

impl DeviceHandle {
    /// Upserts the account row with `device`; `keep` leaves an existing row alone.
    async fn write_device(&self, device: &Device, keep: bool) -> Result<()> {
        let sql = if keep {
            "INSERT INTO wa_device (session, pn, lid, device, updated_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session) DO NOTHING"
        } else {
            "INSERT INTO wa_device (session, pn, lid, device, updated_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (session) DO UPDATE SET pn = excluded.pn, lid = excluded.lid,
                 device = excluded.device, updated_ms = excluded.updated_ms"
        };
        on_pool!(self.db()?, |pool| sqlx::query(sql)
            .bind(self.session())
            .bind(jid_text(device.pn.as_ref()))
            .bind(jid_text(device.lid.as_ref()))
            .bind(encode(device)?)
            .bind(crate::now_ms())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl DeviceStore for DeviceHandle {
    async fn save(&self, device: &Device) -> Result<()> {
        self.write_device(device, false).await
    }

    /// The account row, with the runtime-only fields set as a fresh process has them.
    async fn load(&self) -> Result<Option<Device>> {
        let data: Option<Vec<u8>> = on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT device FROM wa_device WHERE session = $1"
        )
        .bind(self.session())
        .fetch_optional(pool)
        .await)
        .map_err(db)?;
        let Some(data) = data else {
            return Ok(None);
        };
        let mut device: Device =
            serde_json::from_slice(&data).map_err(|e| StoreError::Serialization(Box::new(e)))?;
        device.device_props = Arc::new(DEVICE_PROPS.clone());
        device.client_profile = ClientProfile::web();
        device.nct_salt_sync_seen = false;
        Ok(Some(device))
    }

    async fn exists(&self) -> Result<bool> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM wa_device WHERE session = $1)"
        )
        .bind(self.session())
        .fetch_one(pool)
        .await)
        .map_err(db)
    }

    /// Persists a fresh `Device::new()` (new keys) unless a row exists already (two
    /// racing creates keep the first). The id is only logged by the library.
    async fn create(&self) -> Result<i32> {
        self.write_device(&Device::new(), true).await?;
        Ok(1)
    }

    /// Nothing is held in this process: the rows live in the shared database.
    async fn resource_report(&self) -> StorageResourceReport {
        StorageResourceReport {
            memory_bytes: Some(0),
            ..Default::default()
        }
    }
}
