//! The webhook outbox ([`Outbox`]) and identity changes ([`IdentityStore`]) in the
//! store's database. Facts put their event in the outbox through [`emit_in`], inside the
//! transaction that stores the fact.

use crate::db::dialect;
use crate::{DbRow, Tx};
use anyhow::Context;
use async_trait::async_trait;
use wacontacts_core::identity::{IdentityRecord, IdentityStore};
use wacontacts_core::ids::ContactRef;
use wacontacts_core::ports::StoreResult;
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::{
    DeadLetter, MAX_DEAD_PER_SESSION, MAX_PENDING_PER_SESSION, Outbox, OutboxDepth, OutboxEntry,
    new_event_id,
};

use crate::contacts::identity_keys;
use crate::{Store, now_ms};

/// The event a fact causes, if any: `(event name, payload)`.
pub(crate) type Emit = Option<(&'static str, serde_json::Value)>;

/// The pending cap is checked once per this many enqueues (counting is linear).
const CAP_CHECK_EVERY: i64 = 256;

/// Appends `emit` to `session`'s outbox on `conn` (the fact's transaction).
pub(crate) async fn emit_in(conn: &mut Tx, session: &str, emit: Emit) -> anyhow::Result<()> {
    if let Some((event, payload)) = emit {
        enqueue_on(conn, session, event, &payload, now_ms()).await?;
    }
    Ok(())
}

async fn enqueue_on(
    conn: &mut Tx,
    session: &str,
    event: &str,
    payload: &serde_json::Value,
    at_ms: i64,
) -> anyhow::Result<String> {
    let id = new_event_id(at_ms, rand::random());
    let seq: i64 = on_tx!(conn, |c| sqlx::query_scalar(
        "INSERT INTO webhook_outbox (session, id, event, payload, created_ms) VALUES ($1, $2, $3, $4, $5)
         RETURNING seq",
    )
    .bind(session)
    .bind(&id)
    .bind(event)
    .bind(payload.to_string())
    .bind(at_ms)
    .fetch_one(&mut **c)
    .await)
    .context("Failed to enqueue a webhook event")?;
    if seq % CAP_CHECK_EVERY == 0 {
        cap_pending(conn, session, at_ms).await?;
    }
    Ok(id)
}

/// Past [`MAX_PENDING_PER_SESSION`], the oldest waiting events become dead letters.
async fn cap_pending(conn: &mut Tx, session: &str, at_ms: i64) -> anyhow::Result<()> {
    let done = on_tx!(conn, |c| sqlx::query(
        "UPDATE webhook_outbox SET dead = 1, failed_ms = $3, last_error = 'outbox full'
         WHERE seq IN (SELECT seq FROM webhook_outbox WHERE session = $1 AND dead = 0
                       ORDER BY seq LIMIT (SELECT CASE WHEN count(*) > $2 THEN count(*) - $2
                         ELSE 0 END FROM webhook_outbox WHERE session = $1 AND dead = 0))",
    )
    .bind(session)
    .bind(MAX_PENDING_PER_SESSION as i64)
    .bind(at_ms)
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?;
    if done > 0 {
        tracing::error!(
            session,
            events = done,
            "webhook outbox full: oldest events dead-lettered"
        );
        prune_dead(conn, session).await?;
    }
    Ok(())
}

/// Keeps the newest [`MAX_DEAD_PER_SESSION`] dead letters of a session.
async fn prune_dead(conn: &mut Tx, session: &str) -> anyhow::Result<()> {
    on_tx!(conn, |c| sqlx::query(
        "DELETE FROM webhook_outbox WHERE session = $1 AND dead = 1 AND seq NOT IN
           (SELECT seq FROM webhook_outbox WHERE session = $1 AND dead = 1
            ORDER BY failed_ms DESC, seq DESC LIMIT $2)",
    )
    .bind(session)
    .bind(MAX_DEAD_PER_SESSION as i64)
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

fn payload_of(row: &impl DbRow) -> anyhow::Result<serde_json::Value> {
    let text: String = row.try_get("payload")?;
    serde_json::from_str(&text).context("a stored webhook payload is not JSON")
}

#[async_trait]
impl Outbox for Store {
    async fn enqueue(
        &self,
        session: &SessionName,
        event: &str,
        payload: &serde_json::Value,
        at_ms: i64,
    ) -> StoreResult<String> {
        let mut tx = self.write_tx().await?;
        let id = enqueue_on(&mut tx, session.as_str(), event, payload, at_ms).await?;
        tx.commit()
            .await
            .context("Failed to enqueue a webhook event")?;
        Ok(id)
    }

    async fn next_pending(&self, session: &SessionName) -> StoreResult<Option<OutboxEntry>> {
        on_pool!(self.pool(), |pool| {
            let row = sqlx::query(
            "SELECT seq, id, event, payload, created_ms, attempts, next_at_ms FROM webhook_outbox
             WHERE session = $1 AND dead = 0 ORDER BY seq LIMIT 1",
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await
        .context("Failed to read the webhook outbox")?;
            let Some(row) = row else { return Ok(None) };
            let read = || -> anyhow::Result<OutboxEntry> {
                Ok(OutboxEntry {
                    seq: row.try_get("seq")?,
                    id: row.try_get("id")?,
                    event: row.try_get("event")?,
                    payload: payload_of(&row)?,
                    created_ms: row.try_get("created_ms")?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    next_at_ms: row.try_get("next_at_ms")?,
                })
            };
            Ok(Some(read()?))
        })
    }

    async fn delivered(&self, seq: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |pool| sqlx::query(
            "DELETE FROM webhook_outbox WHERE seq = $1"
        )
        .bind(seq)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to remove a delivered webhook event")?;
        Ok(())
    }

    async fn failed(
        &self,
        seq: i64,
        attempts: u32,
        next_at_ms: i64,
        error: &str,
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |pool| sqlx::query(
            "UPDATE webhook_outbox SET attempts = $2, next_at_ms = $3, last_error = $4 WHERE seq = $1",
        )
        .bind(seq)
        .bind(attempts as i64)
        .bind(next_at_ms)
        .bind(error)
        .execute(pool)
        .await.map(|r| r.rows_affected()))
        .context("Failed to record a webhook attempt")?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        seq: i64,
        attempts: u32,
        error: &str,
        at_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let session: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "UPDATE webhook_outbox SET dead = 1, attempts = $2, last_error = $3, failed_ms = $4
             WHERE seq = $1 RETURNING session",
        )
        .bind(seq)
        .bind(attempts as i64)
        .bind(error)
        .bind(at_ms)
        .fetch_optional(&mut **c)
        .await)
        .context("Failed to dead-letter a webhook event")?;
        if let Some(session) = session {
            prune_dead(&mut tx, &session).await?;
        }
        tx.commit()
            .await
            .context("Failed to dead-letter a webhook event")?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        session: &SessionName,
        limit: u32,
    ) -> StoreResult<Vec<DeadLetter>> {
        fn read(row: &impl DbRow) -> anyhow::Result<DeadLetter> {
            Ok(DeadLetter {
                id: row.try_get("id")?,
                event: row.try_get("event")?,
                payload: payload_of(row)?,
                created_ms: row.try_get("created_ms")?,
                attempts: row.try_get::<i64, _>("attempts")? as u32,
                last_error: row
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
                failed_ms: row
                    .try_get::<Option<i64>, _>("failed_ms")?
                    .unwrap_or_default(),
            })
        }
        on_pool!(self.pool(), |pool| {
            let rows = sqlx::query(
                "SELECT id, event, payload, created_ms, attempts, last_error, failed_ms
                 FROM webhook_outbox WHERE session = $1 AND dead = 1
                 ORDER BY failed_ms DESC, seq DESC LIMIT $2",
            )
            .bind(session.as_str())
            .bind(limit as i64)
            .fetch_all(pool)
            .await
            .context("Failed to list dead webhook events")?;
            Ok(rows.iter().map(read).collect::<anyhow::Result<_>>()?)
        })
    }

    async fn retry_dead_letter(&self, session: &SessionName, id: &str) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        // A new row (so a new `seq`: the end of the queue) with the same id.
        let moved = on_tx!(&mut tx, |c| sqlx::query(
            "INSERT INTO webhook_outbox (session, id, event, payload, created_ms)
             SELECT session, id || '#retry', event, payload, created_ms FROM webhook_outbox
             WHERE session = $1 AND id = $2 AND dead = 1",
        )
        .bind(session.as_str())
        .bind(id)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to requeue a dead webhook event")?;
        if moved == 0 {
            return Ok(false);
        }
        on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM webhook_outbox WHERE session = $1 AND id = $2 AND dead = 1"
        )
        .bind(session.as_str())
        .bind(id)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(anyhow::Error::from)?;
        on_tx!(&mut tx, |c| sqlx::query(
            "UPDATE webhook_outbox SET id = $2 WHERE session = $1 AND id = $2 || '#retry'"
        )
        .bind(session.as_str())
        .bind(id)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(anyhow::Error::from)?;
        tx.commit()
            .await
            .context("Failed to requeue a dead webhook event")?;
        Ok(true)
    }

    async fn sessions_with_pending(&self) -> StoreResult<Vec<SessionName>> {
        let names: Vec<String> = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT DISTINCT session FROM webhook_outbox WHERE dead = 0"
        )
        .fetch_all(pool)
        .await)
        .context("Failed to list sessions with webhook events")?;
        Ok(names
            .iter()
            .filter_map(|n| SessionName::parse(n).ok())
            .collect())
    }

    async fn depth(&self) -> StoreResult<OutboxDepth> {
        let (pending, dead): (i64, i64) = on_pool!(self.pool(), |pool| sqlx::query_as(
            "SELECT count(*) FILTER (WHERE dead = 0), count(*) FILTER (WHERE dead = 1)
             FROM webhook_outbox",
        )
        .fetch_one(pool)
        .await)
        .context("Failed to count the webhook outbox")?;
        Ok(OutboxDepth {
            pending: pending.max(0) as u64,
            dead: dead.max(0) as u64,
        })
    }
}

#[async_trait]
impl IdentityStore for Store {
    async fn latest_identity(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> StoreResult<Option<IdentityRecord>> {
        let mut conn = self.pool().read_tx().await.map_err(anyhow::Error::from)?;
        let keys = identity_keys(&mut conn, session.as_str(), who).await?;
        let keys = serde_json::to_string(&keys).map_err(anyhow::Error::from)?;
        let sql = |pg| {
            format!(
                "SELECT hash, at_ms, acknowledged FROM identity_changes
                 WHERE session = $1 AND jid IN {} ORDER BY at_ms DESC, rowid DESC LIMIT 1",
                dialect::text_set(pg, 2)
            )
        };
        let row: Option<(Option<String>, i64, i64)> =
            on_tx!(&mut conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql(PG)))
                .bind(session.as_str())
                .bind(&keys)
                .fetch_optional(&mut **c)
                .await)
            .context("Failed to read an identity change")?;
        Ok(row.map(|(hash, created_ms, acknowledged)| IdentityRecord {
            hash,
            created_ms,
            acknowledged: acknowledged != 0,
        }))
    }

    async fn acknowledge_identity(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let keys = identity_keys(&mut tx, session.as_str(), who).await?;
        let keys = serde_json::to_string(&keys).map_err(anyhow::Error::from)?;
        let sql = |pg| {
            format!(
                "UPDATE identity_changes SET acknowledged = 1 WHERE rowid = (
                   SELECT rowid FROM identity_changes WHERE session = $1 AND jid IN {}
                   ORDER BY at_ms DESC, rowid DESC LIMIT 1)",
                dialect::text_set(pg, 2)
            )
        };
        on_tx!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql(PG)))
            .bind(session.as_str())
            .bind(&keys)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))
        .context("Failed to acknowledge an identity change")?;
        tx.commit()
            .await
            .context("Failed to acknowledge an identity change")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::Backend;
    use serde_json::json;

    use super::*;
    use crate::test_support::store_with_session;

    async fn outbox_keeps_order_dead_letters_and_requeues_with_the_same_id(backend: Backend) {
        let (_dir, store, s) = store_with_session(backend, "hooks").await;
        let a = store
            .enqueue(&s, "lid.mapping", &json!({"n": 1}), 5)
            .await
            .unwrap();
        let b = store
            .enqueue(&s, "lid.mapping", &json!({"n": 2}), 6)
            .await
            .unwrap();
        let first = store.next_pending(&s).await.unwrap().unwrap();
        assert_eq!(
            (first.id.as_str(), first.payload["n"].as_i64()),
            (a.as_str(), Some(1))
        );
        store.failed(first.seq, 1, 99, "HTTP 500").await.unwrap();
        let again = store.next_pending(&s).await.unwrap().unwrap();
        assert_eq!(
            (again.seq, again.attempts, again.next_at_ms),
            (first.seq, 1, 99)
        );
        store
            .dead_letter(first.seq, 2, "HTTP 500", 100)
            .await
            .unwrap();
        assert_eq!(store.next_pending(&s).await.unwrap().unwrap().id, b);
        assert_eq!(
            store.depth().await.unwrap(),
            OutboxDepth {
                pending: 1,
                dead: 1
            }
        );
        let dead = store.dead_letters(&s, 10).await.unwrap();
        assert_eq!((dead[0].id.as_str(), dead[0].attempts), (a.as_str(), 2));
        assert!(store.retry_dead_letter(&s, &a).await.unwrap());
        assert!(
            !store.retry_dead_letter(&s, &a).await.unwrap(),
            "no longer dead"
        );
        let next = store.next_pending(&s).await.unwrap().unwrap();
        assert_eq!(next.id, b, "a requeued letter goes to the end");
        store.delivered(next.seq).await.unwrap();
        let last = store.next_pending(&s).await.unwrap().unwrap();
        assert_eq!((last.id.as_str(), last.attempts), (a.as_str(), 0));
        assert_eq!(
            store.sessions_with_pending().await.unwrap(),
            vec![s.clone()]
        );
    }

    both_backends!(outbox_keeps_order_dead_letters_and_requeues_with_the_same_id,);
}
