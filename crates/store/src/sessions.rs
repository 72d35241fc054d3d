//! The `sessions` table: what the user created, its config and its last known status.

use anyhow::Context;
use wacontacts_core::session::{NewSession, SessionName, SessionRecord, SessionStatus};

use crate::{DbRow, Store, Written, now_ms};

impl Store {
    /// Inserts a new session in STOPPED state; `Ok(false)` when the name is taken.
    pub(crate) async fn create_session(&self, new: &NewSession) -> anyhow::Result<bool> {
        let now = now_ms();
        let result = on_pool!(self.pool(), |pool| sqlx::query(
            "INSERT INTO sessions (name, config, status, created_ms, updated_ms)
             VALUES ($1, $2, 'STOPPED', $3, $3) ON CONFLICT(name) DO NOTHING",
        )
        .bind(new.name.as_str())
        .bind(new.config.to_string())
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to insert a session")?;
        Ok(result == 1)
    }

    /// Every session, ordered by name.
    pub(crate) async fn list_sessions(&self) -> anyhow::Result<Vec<SessionRecord>> {
        on_pool!(self.pool(), |pool| sqlx::query(
            "SELECT * FROM sessions ORDER BY name"
        )
        .fetch_all(pool)
        .await
        .context("Failed to list sessions")?
        .iter()
        .map(record_from_row)
        .collect())
    }

    /// One session by name, `None` when it does not exist.
    pub(crate) async fn get_session(
        &self,
        name: &SessionName,
    ) -> anyhow::Result<Option<SessionRecord>> {
        on_pool!(self.pool(), |pool| sqlx::query(
            "SELECT * FROM sessions WHERE name = $1"
        )
        .bind(name.as_str())
        .fetch_optional(pool)
        .await
        .context("Failed to read a session")?
        .as_ref()
        .map(record_from_row)
        .transpose())
    }

    /// Replaces a session's config.
    pub(crate) async fn update_session_config(
        &self,
        name: &SessionName,
        config: &serde_json::Value,
    ) -> anyhow::Result<Written> {
        let result = on_pool!(self.pool(), |pool| sqlx::query(
            "UPDATE sessions SET config = $2, updated_ms = $3 WHERE name = $1"
        )
        .bind(name.as_str())
        .bind(config.to_string())
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to update a session")?;
        Ok(written(result))
    }

    /// Records a session's lifecycle state and, for FAILED, why.
    pub(crate) async fn set_session_status(
        &self,
        name: &SessionName,
        status: SessionStatus,
        failure_reason: Option<&str>,
    ) -> anyhow::Result<Written> {
        let result = on_pool!(self.pool(), |pool| {
            sqlx::query(
            "UPDATE sessions SET status = $2, failure_reason = $3, updated_ms = $4 WHERE name = $1",
        )
        .bind(name.as_str())
        .bind(status.as_str())
        .bind(failure_reason)
        .bind(now_ms())
        .execute(pool)
        .await.map(|r| r.rows_affected())
        })
        .context("Failed to record a session status")?;
        Ok(written(result))
    }

    /// Records whether the user wants the session running after a restart.
    pub(crate) async fn set_session_desired_running(
        &self,
        name: &SessionName,
        running: bool,
    ) -> anyhow::Result<Written> {
        let result = on_pool!(self.pool(), |pool| sqlx::query(
            "UPDATE sessions SET desired_running = $2, updated_ms = $3 WHERE name = $1",
        )
        .bind(name.as_str())
        .bind(i64::from(running))
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to record a session's desired state")?;
        Ok(written(result))
    }

    /// Deletes a session and (through foreign keys) everything keyed by it.
    pub(crate) async fn delete_session(&self, name: &SessionName) -> anyhow::Result<Written> {
        let result = on_pool!(self.pool(), |pool| sqlx::query(
            "DELETE FROM sessions WHERE name = $1"
        )
        .bind(name.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to delete a session")?;
        Ok(written(result))
    }
}

fn written(rows: u64) -> Written {
    if rows == 0 {
        Written::NotFound
    } else {
        Written::Done
    }
}

fn record_from_row(row: &impl DbRow) -> anyhow::Result<SessionRecord> {
    let name: String = row.try_get("name")?;
    let config: String = row.try_get("config")?;
    let status: String = row.try_get("status")?;
    Ok(SessionRecord {
        name: SessionName::parse(&name)
            .with_context(|| format!("Stored session name is invalid: {name:?}"))?,
        config: serde_json::from_str(&config).context("Stored session config is not JSON")?,
        status: SessionStatus::from_str_opt(&status)
            .with_context(|| format!("Stored session status is unknown: {status:?}"))?,
        desired_running: row.try_get::<i64, _>("desired_running")? != 0,
        failure_reason: row.try_get("failure_reason")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Backend;

    use crate::test_support::fresh_store as temp_store;

    fn name(s: &str) -> SessionName {
        SessionName::parse(s).unwrap()
    }

    async fn wal_and_foreign_keys_are_on(backend: Backend) {
        let (_dir, store) = temp_store(backend).await;
        let pragmas = store.pragmas().await.unwrap();
        if backend == Backend::Postgres {
            assert_eq!(pragmas, None);
            assert_eq!(store.backend(), "postgres");
            return;
        }
        let (journal, fk) = pragmas.unwrap();
        assert_eq!(journal.to_lowercase(), "wal");
        assert!(fk);
        assert_eq!(store.backend(), "sqlite");
    }

    async fn create_is_refused_for_a_taken_name(backend: Backend) {
        let (_dir, store) = temp_store(backend).await;
        let new = NewSession {
            name: name("a"),
            config: serde_json::json!({}),
        };
        assert!(store.create_session(&new).await.unwrap());
        assert!(!store.create_session(&new).await.unwrap());
        assert_eq!(store.list_sessions().await.unwrap().len(), 1);
    }

    async fn sessions_survive_reopening_the_file(backend: Backend) {
        let db = crate::testing::TestDatabase::new(backend).await.unwrap();
        {
            let store = Store::open(db.url()).await.unwrap();
            let new = NewSession {
                name: name("kept"),
                config: serde_json::json!({"metadata": {"k": "v"}}),
            };
            store.create_session(&new).await.unwrap();
            store
                .set_session_status(&name("kept"), SessionStatus::Failed, Some("boom"))
                .await
                .unwrap();
            store.close().await;
        }
        let store = Store::open(db.url()).await.unwrap();
        let got = store.get_session(&name("kept")).await.unwrap().unwrap();
        assert_eq!(got.config["metadata"]["k"], "v");
        assert_eq!(got.status, SessionStatus::Failed);
        assert_eq!(got.failure_reason.as_deref(), Some("boom"));
    }

    async fn writes_to_missing_sessions_say_not_found(backend: Backend) {
        let (_dir, store) = temp_store(backend).await;
        let n = name("ghost");
        assert_eq!(store.delete_session(&n).await.unwrap(), Written::NotFound);
        assert_eq!(
            store
                .update_session_config(&n, &serde_json::json!({}))
                .await
                .unwrap(),
            Written::NotFound
        );
        assert!(store.get_session(&n).await.unwrap().is_none());
    }

    both_backends!(
        wal_and_foreign_keys_are_on,
        create_is_refused_for_a_taken_name,
        sessions_survive_reopening_the_file,
        writes_to_missing_sessions_say_not_found,
    );
}
