//! The recent-deliveries log of webhooks ([`DeliveryLog`]): a bounded, per-session
//! list of what each POST did. Queries use `$n` placeholders (sqlx-sqlite binds them
//! by number; PostgreSQL's own form) and SQL both databases accept; each column is
//! bound and read as the Rust type its SQL type maps to in both (INTEGER as `i32`,
//! BIGINT as `i64`, BOOLEAN as `bool`).

use anyhow::Context;
use async_trait::async_trait;
use wacontacts_core::ports::StoreResult;
use wacontacts_core::session::SessionName;
use wacontacts_core::webhook::{DeliveryLog, DeliveryRecord, MAX_DELIVERIES_PER_SESSION};

use crate::{DbRow, Store};

#[async_trait]
impl DeliveryLog for Store {
    async fn record_deliveries(
        &self,
        session: &SessionName,
        records: &[DeliveryRecord],
    ) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for r in records {
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO webhook_deliveries
                   (session, seq, event_id, event, url, delivered, status, error, attempts, at_ms)
                 VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM webhook_deliveries
                              WHERE session = $1), $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(session.as_str())
            .bind(&r.event_id)
            .bind(&r.event)
            .bind(&r.url)
            .bind(r.delivered)
            .bind(r.status.map(i32::from))
            .bind(r.error.as_deref())
            .bind(i32::try_from(r.attempts).unwrap_or(i32::MAX))
            .bind(r.at_ms)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))
            .context("Failed to log a webhook delivery")?;
        }
        // `seq` has no gaps below the newest row, so this keeps exactly the newest N.
        on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM webhook_deliveries WHERE session = $1 AND seq <=
               (SELECT max(seq) FROM webhook_deliveries WHERE session = $1) - $2",
        )
        .bind(session.as_str())
        .bind(MAX_DELIVERIES_PER_SESSION as i64)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to prune the webhook delivery log")?;
        tx.commit()
            .await
            .context("Failed to log webhook deliveries")?;
        Ok(())
    }

    async fn recent_deliveries(
        &self,
        session: &SessionName,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        on_pool!(self.pool(), |pool| {
            let rows = sqlx::query(
                "SELECT event_id, event, url, delivered, status, error, attempts, at_ms
             FROM webhook_deliveries WHERE session = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3",
            )
            .bind(session.as_str())
            .bind(limit as i64)
            .bind(offset as i64)
            .fetch_all(pool)
            .await
            .context("Failed to read the webhook delivery log")?;
            Ok(rows
                .iter()
                .map(record_from_row)
                .collect::<anyhow::Result<_>>()?)
        })
    }
}

fn record_from_row(row: &impl DbRow) -> anyhow::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        event_id: row.try_get("event_id")?,
        event: row.try_get("event")?,
        url: row.try_get("url")?,
        delivered: row.try_get("delivered")?,
        status: row
            .try_get::<Option<i32>, _>("status")?
            .and_then(|s| u16::try_from(s).ok()),
        error: row.try_get("error")?,
        attempts: row.try_get::<i32, _>("attempts")?.max(0) as u32,
        at_ms: row.try_get("at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Backend, store_with_session};

    fn record(n: u32, delivered: bool) -> DeliveryRecord {
        DeliveryRecord {
            event_id: format!("evt_{n}"),
            event: "contact.update".into(),
            url: "http://h.test/hook?k=***".into(),
            delivered,
            status: delivered.then_some(200),
            error: (!delivered).then(|| "could not connect".to_owned()),
            attempts: n % 3 + 1,
            at_ms: 1_000 + n as i64,
        }
    }

    async fn keeps_the_newest_per_session_pages_newest_first_and_goes_with_the_session(
        backend: Backend,
    ) {
        let (_dir, store, s) = store_with_session(backend, "log").await;
        let other = SessionName::parse("other").unwrap();
        store
            .create_session(&wacontacts_core::session::NewSession {
                name: other.clone(),
                config: serde_json::json!({}),
            })
            .await
            .unwrap();
        store
            .record_deliveries(&other, &[record(0, true)])
            .await
            .unwrap();
        let max = MAX_DELIVERIES_PER_SESSION;
        // One write of 3, then single writes: past the cap, the oldest go.
        let first: Vec<_> = (0..3).map(|n| record(n, n.is_multiple_of(2))).collect();
        store.record_deliveries(&s, &first).await.unwrap();
        for n in 3..max + 5 {
            store
                .record_deliveries(&s, &[record(n, n.is_multiple_of(2))])
                .await
                .unwrap();
        }
        let all = store.recent_deliveries(&s, 1_000, 0).await.unwrap();
        assert_eq!(all.len(), max as usize, "capped");
        assert_eq!(
            all[0],
            record(max + 4, (max + 4).is_multiple_of(2)),
            "newest first"
        );
        assert_eq!(all.last().unwrap().event_id, "evt_5", "the oldest 5 pruned");
        let page = store.recent_deliveries(&s, 2, 1).await.unwrap();
        assert_eq!(page, all[1..3].to_vec());
        assert_eq!(
            store.recent_deliveries(&other, 10, 0).await.unwrap().len(),
            1,
            "another session's log is its own"
        );
        store.record_deliveries(&s, &[]).await.unwrap();
        store.delete_session(&s).await.unwrap();
        assert!(store.recent_deliveries(&s, 10, 0).await.unwrap().is_empty());
    }

    both_backends!(keeps_the_newest_per_session_pages_newest_first_and_goes_with_the_session);
}
