//! Session leases and the node registry (see `wacontacts_core::lease`). Each write is
//! one statement that is its own compare-and-set. The SQL is kept portable on purpose
//! (`$N` placeholders, `INSERT … ON CONFLICT … DO UPDATE … WHERE`, `UPDATE … RETURNING`,
//! times as integers of Unix ms, no SQLite-only function) so it runs unchanged on
//! PostgreSQL.

use anyhow::Context;
use async_trait::async_trait;
use wacontacts_core::lease::{LeaseRow, LeaseStore, NodeId, NodeInfo, SessionLease};
use wacontacts_core::ports::StoreResult;
use wacontacts_core::session::SessionName;

use crate::{DbRow, Store};

fn node_id(text: &str) -> anyhow::Result<NodeId> {
    NodeId::parse(text).map_err(|e| anyhow::anyhow!("stored node id {text:?}: {e}"))
}

fn session_name(text: &str) -> anyhow::Result<SessionName> {
    SessionName::parse(text).map_err(|e| anyhow::anyhow!("stored session name {text:?}: {e}"))
}

#[async_trait]
impl LeaseStore for Store {
    async fn heartbeat(
        &self,
        node: &NodeId,
        incarnation: &str,
        url: &str,
        now_ms: i64,
        live_after_ms: i64,
    ) -> StoreResult<bool> {
        let written = on_pool!(self.pool(), |pool| sqlx::query(
            "INSERT INTO nodes (id, url, heartbeat_ms, incarnation) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET url = excluded.url,
                 heartbeat_ms = excluded.heartbeat_ms, incarnation = excluded.incarnation
             WHERE nodes.incarnation = excluded.incarnation OR nodes.heartbeat_ms <= $5",
        )
        .bind(node.as_str())
        .bind(url)
        .bind(now_ms)
        .bind(incarnation)
        .bind(live_after_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to record a node heartbeat")?;
        Ok(written == 1)
    }

    async fn live_nodes(&self, after_ms: i64) -> StoreResult<Vec<NodeInfo>> {
        let rows = on_pool!(self.pool(), |pool| sqlx::query(
            "SELECT id, url, heartbeat_ms FROM nodes WHERE heartbeat_ms > $1 ORDER BY id",
        )
        .bind(after_ms)
        .fetch_all(pool)
        .await
        .context("Failed to list live nodes")?
        .iter()
        .map(node_from_row)
        .collect::<anyhow::Result<Vec<_>>>())?;
        Ok(rows)
    }

    async fn forget_nodes(&self, before_ms: i64) -> StoreResult<u64> {
        let done = on_pool!(self.pool(), |pool| sqlx::query(
            "DELETE FROM nodes WHERE heartbeat_ms < $1"
        )
        .bind(before_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to forget old nodes")?;
        Ok(done)
    }

    async fn lease_rows(&self) -> StoreResult<Vec<LeaseRow>> {
        let rows = on_pool!(self.pool(), |pool| sqlx::query(
            "SELECT s.name, s.desired_running, l.holder, l.expires_ms
             FROM sessions s LEFT JOIN leases l ON l.session = s.name ORDER BY s.name",
        )
        .fetch_all(pool)
        .await
        .context("Failed to list leases")?
        .iter()
        .map(lease_row_from_row)
        .collect::<anyhow::Result<Vec<_>>>())?;
        Ok(rows)
    }

    async fn session_lease(&self, session: &SessionName) -> StoreResult<Option<SessionLease>> {
        let row = on_pool!(self.pool(), |pool| sqlx::query(
            "SELECT s.desired_running, l.holder, l.expires_ms, n.url, n.heartbeat_ms
             FROM sessions s
             LEFT JOIN leases l ON l.session = s.name
             LEFT JOIN nodes n ON n.id = l.holder
             WHERE s.name = $1",
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await
        .context("Failed to read a session's lease")?
        .as_ref()
        .map(session_lease_from_row)
        .transpose())?;
        Ok(row)
    }

    async fn acquire(
        &self,
        session: &SessionName,
        node: &NodeId,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<bool> {
        // The SELECT (with its WHERE, which SQLite needs before ON CONFLICT) inserts
        // nothing for a deleted session; the update's WHERE is the compare-and-set.
        let done = on_pool!(self.pool(), |pool| sqlx::query(
            "INSERT INTO leases (session, holder, expires_ms)
             SELECT name, $2, $3 FROM sessions WHERE name = $1
             ON CONFLICT (session) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
             WHERE leases.holder IS NULL OR leases.holder = $2 OR leases.expires_ms <= $4",
        )
        .bind(session.as_str())
        .bind(node.as_str())
        .bind(expires_ms)
        .bind(now_ms)
        .execute(pool).await.map(|r| r.rows_affected()))
        .context("Failed to acquire a lease")?;
        Ok(done == 1)
    }

    async fn renew(&self, node: &NodeId, expires_ms: i64) -> StoreResult<Vec<SessionName>> {
        let rows = on_pool!(self.pool(), |pool| sqlx::query(
            "UPDATE leases SET expires_ms = $1 WHERE holder = $2 RETURNING session"
        )
        .bind(expires_ms)
        .bind(node.as_str())
        .fetch_all(pool)
        .await
        .context("Failed to renew leases")?
        .iter()
        .map(|r| session_name(&r.try_get::<String, _>("session")?))
        .collect::<anyhow::Result<Vec<_>>>())?;
        Ok(rows)
    }

    async fn release(&self, session: &SessionName, node: &NodeId) -> StoreResult<bool> {
        let done = on_pool!(self.pool(), |pool| {
            sqlx::query(
            "UPDATE leases SET holder = NULL, expires_ms = 0 WHERE session = $1 AND holder = $2",
        )
        .bind(session.as_str())
        .bind(node.as_str())
        .execute(pool).await.map(|r| r.rows_affected())
        })
        .context("Failed to release a lease")?;
        Ok(done == 1)
    }

    async fn leave(&self, node: &NodeId) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        on_tx!(&mut tx, |c| sqlx::query(
            "UPDATE leases SET holder = NULL, expires_ms = 0 WHERE holder = $1"
        )
        .bind(node.as_str())
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to release a node's leases")?;
        on_tx!(&mut tx, |c| sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(node.as_str())
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))
        .context("Failed to remove a node")?;
        tx.commit()
            .await
            .context("Failed to commit a node's leave")?;
        Ok(())
    }
}

fn node_from_row(r: &impl DbRow) -> anyhow::Result<NodeInfo> {
    Ok(NodeInfo {
        id: node_id(&r.try_get::<String, _>("id")?)?,
        url: r.try_get("url")?,
        heartbeat_ms: r.try_get("heartbeat_ms")?,
    })
}

fn lease_row_from_row(r: &impl DbRow) -> anyhow::Result<LeaseRow> {
    let holder: Option<String> = r.try_get("holder")?;
    Ok(LeaseRow {
        session: session_name(&r.try_get::<String, _>("name")?)?,
        wanted: r.try_get::<i64, _>("desired_running")? != 0,
        holder: holder.as_deref().map(node_id).transpose()?,
        expires_ms: r.try_get::<Option<i64>, _>("expires_ms")?.unwrap_or(0),
    })
}

fn session_lease_from_row(r: &impl DbRow) -> anyhow::Result<SessionLease> {
    let holder: Option<String> = r.try_get("holder").context("holder")?;
    let url: Option<String> = r.try_get("url").context("url")?;
    let holder = match (holder, url) {
        (Some(id), Some(url)) => Some(NodeInfo {
            id: node_id(&id)?,
            url,
            heartbeat_ms: r
                .try_get::<Option<i64>, _>("heartbeat_ms")
                .context("heartbeat_ms")?
                .unwrap_or(0),
        }),
        // A holder missing from the registry left or was forgotten: as good as none.
        _ => None,
    };
    Ok(SessionLease {
        wanted: r
            .try_get::<i64, _>("desired_running")
            .context("desired_running")?
            != 0,
        holder,
        expires_ms: r
            .try_get::<Option<i64>, _>("expires_ms")
            .context("expires_ms")?
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Backend, store_with_session};
    use wacontacts_core::ports::SessionStore;

    fn node(s: &str) -> NodeId {
        NodeId::parse(s).unwrap()
    }

    async fn a_lease_is_taken_by_one_node_until_it_expires(backend: Backend) {
        let (_dir, store, s) = store_with_session(backend, "s1").await;
        let (a, b) = (node("a"), node("b"));
        assert!(store.acquire(&s, &a, 100, 1_000).await.unwrap());
        assert!(
            !store.acquire(&s, &b, 200, 1_200).await.unwrap(),
            "a holds it"
        );
        assert!(
            store.acquire(&s, &a, 300, 1_300).await.unwrap(),
            "a again: fine"
        );
        assert_eq!(store.renew(&a, 2_000).await.unwrap(), vec![s.clone()]);
        assert!(!store.acquire(&s, &b, 1_999, 3_000).await.unwrap());
        assert!(
            store.acquire(&s, &b, 2_000, 3_000).await.unwrap(),
            "expired"
        );
        assert!(
            store.renew(&a, 4_000).await.unwrap().is_empty(),
            "a lost it"
        );
        assert!(!store.release(&s, &a).await.unwrap());
        assert!(store.release(&s, &b).await.unwrap());
        let rows = store.lease_rows().await.unwrap();
        assert_eq!(rows[0].holder, None);
        assert!(
            store.acquire(&s, &a, 10, 20).await.unwrap(),
            "released: free"
        );
    }

    async fn deleted_sessions_take_no_lease_and_drop_theirs(backend: Backend) {
        let (_dir, store, s) = store_with_session(backend, "s1").await;
        assert!(store.acquire(&s, &node("a"), 1, 100).await.unwrap());
        store.delete_session(&s).await.unwrap();
        assert!(store.lease_rows().await.unwrap().is_empty());
        assert!(!store.acquire(&s, &node("a"), 1, 100).await.unwrap());
        assert_eq!(store.session_lease(&s).await.unwrap(), None);
    }

    async fn the_registry_knows_live_nodes_and_routes_to_them(backend: Backend) {
        let (_dir, store, s) = store_with_session(backend, "s1").await;
        store.set_desired_running(&s, true).await.unwrap();
        let a = node("a");
        assert!(
            store
                .heartbeat(&a, "i1", "http://a:1", 1_000, 0)
                .await
                .unwrap()
        );
        assert!(
            store
                .heartbeat(&node("b"), "i2", "http://b:1", 500, 0)
                .await
                .unwrap()
        );
        assert!(
            store
                .heartbeat(&a, "i1", "http://a:2", 1_100, 0)
                .await
                .unwrap()
        );
        let live = store.live_nodes(900).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(
            (live[0].url.as_str(), live[0].heartbeat_ms),
            ("http://a:2", 1_100)
        );
        assert!(store.acquire(&s, &a, 1_000, 5_000).await.unwrap());
        let lease = store.session_lease(&s).await.unwrap().unwrap();
        assert!(lease.wanted);
        assert_eq!(lease.expires_ms, 5_000);
        assert_eq!(lease.holder.unwrap().url, "http://a:2");
        assert_eq!(store.forget_nodes(600).await.unwrap(), 1);
        store.leave(&a).await.unwrap();
        let lease = store.session_lease(&s).await.unwrap().unwrap();
        assert_eq!((lease.holder, lease.expires_ms), (None, 0));
        assert!(store.live_nodes(0).await.unwrap().is_empty());
    }

    /// A second process under a live node id is refused; once the first one's
    /// heartbeat is stale, the id can be taken over.
    async fn a_live_node_id_is_not_taken_by_another_process(backend: Backend) {
        let (_dir, store, _s) = store_with_session(backend, "s1").await;
        let a = node("a");
        assert!(
            store
                .heartbeat(&a, "first", "http://a:1", 1_000, 0)
                .await
                .unwrap()
        );
        let live_after = 1_500 - 1_000;
        assert!(
            !store
                .heartbeat(&a, "second", "http://a:9", 1_500, live_after)
                .await
                .unwrap(),
            "the first process is live"
        );
        let live = store.live_nodes(0).await.unwrap();
        assert_eq!(live[0].url, "http://a:1", "nothing written");
        assert!(
            store
                .heartbeat(&a, "first", "http://a:1", 1_600, 600)
                .await
                .unwrap()
        );
        // The first one went silent for a TTL.
        assert!(
            store
                .heartbeat(&a, "second", "http://a:9", 2_700, 1_700)
                .await
                .unwrap()
        );
        assert!(
            !store
                .heartbeat(&a, "first", "http://a:1", 2_800, 1_800)
                .await
                .unwrap(),
            "the old process, back, is now the intruder"
        );
    }

    both_backends!(
        a_live_node_id_is_not_taken_by_another_process,
        a_lease_is_taken_by_one_node_until_it_expires,
        deleted_sessions_take_no_lease_and_drop_theirs,
        the_registry_knows_live_nodes_and_routes_to_them
    );
}
