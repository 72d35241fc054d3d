//! wacore's `MsgSecretStore`: the 32-byte secrets of messages that reactions, edits
//! and polls refer to. `expires_at` 0 means "never"; times are Unix seconds.

use async_trait::async_trait;
use wacore::store::traits::{MsgSecretEntry, MsgSecretStore};

use super::{DeviceHandle, Result, db};

#[async_trait]
impl MsgSecretStore for DeviceHandle {
    /// Upserts in one transaction. On conflict the secret is replaced and the two
    /// versions merge as wacore's `merge_msg_secret_*` say: expiry 0 (never) wins,
    /// otherwise the later one; `message_ts` the later one. Each row is one atomic
    /// statement, so concurrent writers converge. Returns the number of entries given.
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut tx = self.tx().await?;
        for e in &entries {
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO wa_msg_secrets (session, chat, sender, msg_id, secret, expires_at, message_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (session, chat, sender, msg_id) DO UPDATE SET
                     secret = excluded.secret,
                     expires_at = CASE WHEN wa_msg_secrets.expires_at = 0 OR excluded.expires_at = 0
                                       THEN 0 WHEN excluded.expires_at > wa_msg_secrets.expires_at
                                       THEN excluded.expires_at ELSE wa_msg_secrets.expires_at END,
                     message_ts = CASE WHEN excluded.message_ts > wa_msg_secrets.message_ts
                                       THEN excluded.message_ts ELSE wa_msg_secrets.message_ts END",
            )
            .bind(self.session())
            .bind(&*e.chat)
            .bind(&*e.sender)
            .bind(&*e.msg_id)
            .bind(e.secret.as_slice())
            .bind(e.expires_at)
            .bind(e.message_ts)
            .execute(&mut **c)
            .await.map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(entries.len())
    }

    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get_msg_secret_with_ts(chat, sender, msg_id)
            .await?
            .map(|(secret, _)| secret))
    }

    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        on_pool!(self.db()?, |pool| sqlx::query_as(
            "SELECT secret, message_ts FROM wa_msg_secrets
             WHERE session = $1 AND chat = $2 AND sender = $3 AND msg_id = $4",
        )
        .bind(self.session())
        .bind(chat)
        .bind(sender)
        .bind(msg_id)
        .fetch_optional(pool)
        .await)
        .map_err(db)
    }

    /// Deletes rows that expire at or before `cutoff_timestamp`; "never" (0) stays.
    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.sweep(
            "DELETE FROM wa_msg_secrets WHERE session = $1 AND expires_at <> 0 AND expires_at <= $2",
            &[cutoff_timestamp],
        )
        .await
    }
}
