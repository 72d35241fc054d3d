//! The durable queue of On-Prem `no_wait` checks and the callback URL they go to.

use crate::db::dialect;
use anyhow::Context;
use async_trait::async_trait;
use wacontacts_core::ids::PhoneNumber;
use wacontacts_core::ports::{CheckQueueStore, StoreResult};
use wacontacts_core::queued::{CheckOutcome, CheckStatus, QueuedCheck};
use wacontacts_core::session::SessionName;

use crate::{Store, now_ms};

fn bad(session: &SessionName, id: i64, what: &str) -> anyhow::Error {
    tracing::error!(session = %session, row = id, field = what, "a queued check does not parse");
    anyhow::anyhow!("queued check {id} of session '{session}': bad {what}")
}

#[async_trait]
impl CheckQueueStore for Store {
    async fn enqueue_checks(
        &self,
        session: &SessionName,
        items: &[(String, PhoneNumber)],
        force: bool,
        max: u64,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let queued: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM check_queue WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_one(&mut **c)
        .await)
        .context("Failed to count queued checks")?;
        if queued as u64 + items.len() as u64 > max {
            return Ok(false);
        }
        let rows: Vec<(&str, String)> =
            items.iter().map(|(i, p)| (i.as_str(), p.wa_id())).collect();
        let rows = serde_json::to_string(&rows).map_err(anyhow::Error::from)?;
        let sql = |pg| {
            format!(
                "INSERT INTO check_queue (session, input, phone, force, queued_ms)
                 SELECT $1, j.value ->> 0, j.value ->> 1, $2, $3 FROM {}",
                dialect::json_rows(pg, 4)
            )
        };
        on_tx!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql(PG)))
            .bind(session.as_str())
            .bind(force as i64)
            .bind(now_ms())
            .bind(&rows)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))
        .context("Failed to queue checks")?;
        tx.commit()
            .await
            .context("Failed to commit queued checks")?;
        Ok(true)
    }

    async fn pending_checks(
        &self,
        session: &SessionName,
        limit: u32,
    ) -> StoreResult<Vec<QueuedCheck>> {
        let rows: Vec<(i64, String, String, i64)> = on_pool!(self.pool(), |pool| sqlx::query_as(
            "SELECT id, input, phone, force FROM check_queue
             WHERE session = $1 AND status IS NULL ORDER BY id LIMIT $2",
        )
        .bind(session.as_str())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)
        .context("Failed to read queued checks")?;
        rows.into_iter()
            .map(|(id, input, digits, force)| {
                Ok(QueuedCheck {
                    id,
                    input,
                    phone: PhoneNumber::parse(&format!("+{digits}"))
                        .map_err(|_| bad(session, id, "phone"))?,
                    force: force != 0,
                })
            })
            .collect()
    }

    async fn finish_checks(
        &self,
        session: &SessionName,
        done: &[(i64, CheckOutcome)],
    ) -> StoreResult<()> {
        let rows: Vec<(i64, &str, Option<&str>)> = done
            .iter()
            .map(|(id, o)| (*id, o.status.as_str(), o.wa_id.as_deref()))
            .collect();
        let rows = serde_json::to_string(&rows).map_err(anyhow::Error::from)?;
        let sql = |pg| {
            format!(
                "UPDATE check_queue SET status = j.value ->> 1, wa_id = j.value ->> 2, checked_ms = $3
                 FROM {} WHERE check_queue.session = $1
                   AND check_queue.id = CAST(j.value ->> 0 AS BIGINT)",
                dialect::json_rows(pg, 2)
            )
        };
        on_pool!(self.pool(), |pool| sqlx::query(sqlx::AssertSqlSafe(sql(
            PG
        )))
        .bind(session.as_str())
        .bind(&rows)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to record checked numbers")?;
        Ok(())
    }

    async fn undelivered_checks(
        &self,
        session: &SessionName,
        limit: u32,
    ) -> StoreResult<Vec<(i64, CheckOutcome)>> {
        let rows: Vec<(i64, String, String, Option<String>)> =
            on_pool!(self.pool(), |pool| sqlx::query_as(
                "SELECT id, input, status, wa_id FROM check_queue
             WHERE session = $1 AND status IS NOT NULL ORDER BY id LIMIT $2",
            )
            .bind(session.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)
            .context("Failed to read checked numbers")?;
        rows.into_iter()
            .map(|(id, input, status, wa_id)| {
                Ok((
                    id,
                    CheckOutcome {
                        input,
                        status: CheckStatus::parse(&status)
                            .ok_or_else(|| bad(session, id, "status"))?,
                        wa_id,
                    },
                ))
            })
            .collect()
    }

    async fn delivered_checks(&self, session: &SessionName, ids: &[i64]) -> StoreResult<()> {
        let ids = serde_json::to_string(ids).map_err(anyhow::Error::from)?;
        let sql = |pg| {
            format!(
                "DELETE FROM check_queue WHERE session = $1 AND id IN {}",
                dialect::int_set(pg, 2)
            )
        };
        on_pool!(self.pool(), |pool| sqlx::query(sqlx::AssertSqlSafe(sql(
            PG
        )))
        .bind(session.as_str())
        .bind(&ids)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to forget delivered checks")?;
        Ok(())
    }

    async fn sessions_with_queued_checks(&self) -> StoreResult<Vec<SessionName>> {
        let names: Vec<String> = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT DISTINCT session FROM check_queue"
        )
        .fetch_all(pool)
        .await)
        .context("Failed to list sessions with queued checks")?;
        names
            .into_iter()
            .map(|n| {
                SessionName::parse(&n)
                    .map_err(|_| anyhow::anyhow!("bad session name in check_queue").into())
            })
            .collect()
    }

    async fn check_callback_url(&self, session: &SessionName) -> StoreResult<Option<String>> {
        let url: Option<Option<String>> = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT webhook_url FROM onprem_settings WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await)
        .context("Failed to read the callback URL")?;
        Ok(url.flatten())
    }

    async fn set_check_callback_url(
        &self,
        session: &SessionName,
        url: Option<&str>,
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |pool| sqlx::query(
            "INSERT INTO onprem_settings (session, webhook_url) VALUES ($1, $2)
             ON CONFLICT (session) DO UPDATE SET webhook_url = excluded.webhook_url",
        )
        .bind(session.as_str())
        .bind(url)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to store the callback URL")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Backend;
    use crate::test_support::store_with_session;

    fn phone(digits: &str) -> PhoneNumber {
        PhoneNumber::parse(&format!("+{digits}")).unwrap()
    }

    async fn queued_checks_wait_until_delivered_and_the_queue_is_bounded(backend: Backend) {
        let (_dir, store, s) = store_with_session(backend, "s").await;
        let items = vec![
            ("+1 555 010 0001".to_owned(), phone("15550100001")),
            ("15550100002".to_owned(), phone("15550100002")),
        ];
        assert!(store.enqueue_checks(&s, &items, true, 3).await.unwrap());
        assert!(
            !store.enqueue_checks(&s, &items, false, 3).await.unwrap(),
            "full"
        );
        let pending = store.pending_checks(&s, 10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].input, "+1 555 010 0001");
        assert!(pending[0].force);
        let outcome = CheckOutcome {
            input: pending[0].input.clone(),
            status: CheckStatus::Valid,
            wa_id: Some("15550100001".into()),
        };
        store
            .finish_checks(&s, &[(pending[0].id, outcome.clone())])
            .await
            .unwrap();
        assert_eq!(store.pending_checks(&s, 10).await.unwrap().len(), 1);
        let undelivered = store.undelivered_checks(&s, 10).await.unwrap();
        assert_eq!(undelivered, vec![(pending[0].id, outcome)]);
        assert_eq!(
            store.sessions_with_queued_checks().await.unwrap(),
            vec![s.clone()]
        );
        store.delivered_checks(&s, &[pending[0].id]).await.unwrap();
        assert!(store.undelivered_checks(&s, 10).await.unwrap().is_empty());

        assert_eq!(store.check_callback_url(&s).await.unwrap(), None);
        store
            .set_check_callback_url(&s, Some("http://x/cb"))
            .await
            .unwrap();
        assert_eq!(
            store.check_callback_url(&s).await.unwrap().as_deref(),
            Some("http://x/cb")
        );
    }

    both_backends!(queued_checks_wait_until_delivered_and_the_queue_is_bounded,);
}
