//! The existence cache: WhatsApp's answers to checks, by session and number or
//! username asked (`CheckKey::cache_key`).

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use wacontacts_core::contact::{CachedExistence, Existence};
use wacontacts_core::ids::{Lid, PhoneNumber};
use wacontacts_core::ports::{CheckStore, StoreResult};
use wacontacts_core::session::SessionName;
use wacontacts_core::username::{CheckKey, Username};

use crate::Store;
use crate::contacts::{merge_lid_row, put_mapping};
use crate::db::dialect;
use crate::usernames::set_username;

/// Most numbers read per statement (SQLite's variable limit is not the issue with
/// `json_each`, but one statement per 10,000 keeps each read short).
const READ_CHUNK: usize = 10_000;

fn bad(session: &SessionName, key: &str, what: &str) -> anyhow::Error {
    // A username's PIN stays out of logs and errors.
    let key = key.split('#').next().unwrap_or(key);
    tracing::error!(session = %session, row = key, field = what, "a cached check does not parse");
    anyhow::anyhow!("cached check of '{key}' in session '{session}': bad {what}")
}

#[async_trait]
impl CheckStore for Store {
    async fn lookups_since(&self, session: &SessionName, since_ms: i64) -> StoreResult<Vec<i64>> {
        let at: Vec<i64> = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT checked_ms FROM existence_cache WHERE session = $1 AND checked_ms >= $2
             ORDER BY checked_ms",
        )
        .bind(session.as_str())
        .bind(since_ms)
        .fetch_all(pool)
        .await)
        .context("Failed to read the lookups of the budget window")?;
        Ok(at)
    }

    async fn cached_checks(
        &self,
        session: &SessionName,
        keys: &[CheckKey],
    ) -> StoreResult<HashMap<CheckKey, CachedExistence>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(READ_CHUNK) {
            let by_key: HashMap<String, &CheckKey> =
                chunk.iter().map(|k| (k.cache_key(), k)).collect();
            let texts: Vec<&String> = by_key.keys().collect();
            let texts = serde_json::to_string(&texts).map_err(anyhow::Error::from)?;
            let sql = |pg| {
                format!(
                    "SELECT phone, on_wa, canonical, lid, username, checked_ms FROM existence_cache
                     WHERE session = $1 AND phone IN {}",
                    dialect::text_set(pg, 2)
                )
            };
            type Cached = (
                String,
                i64,
                Option<String>,
                Option<String>,
                Option<String>,
                i64,
            );
            let rows: Vec<Cached> = on_pool!(self.pool(), |pool| sqlx::query_as(
                sqlx::AssertSqlSafe(sql(PG))
            )
            .bind(session.as_str())
            .bind(&texts)
            .fetch_all(pool)
            .await)
            .context("Failed to read cached checks")?;
            for (key, on_wa, canonical, lid, username, checked_ms) in rows {
                let Some(asked) = by_key.get(&key) else {
                    continue;
                };
                let existence = Existence {
                    exists: on_wa != 0,
                    phone: canonical
                        .map(|c| {
                            PhoneNumber::parse(&format!("+{c}"))
                                .map_err(|_| bad(session, &key, "canonical number"))
                        })
                        .transpose()?,
                    lid: lid
                        .map(|l| Lid::new(&l).map_err(|_| bad(session, &key, "LID")))
                        .transpose()?,
                    username: username
                        .map(|u| Username::parse(&u).map_err(|_| bad(session, &key, "username")))
                        .transpose()?,
                };
                out.insert(
                    (*asked).clone(),
                    CachedExistence {
                        existence,
                        checked_ms,
                    },
                );
            }
        }
        Ok(out)
    }

    async fn cache_checks(
        &self,
        session: &SessionName,
        answers: &[(CheckKey, CachedExistence)],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        for (asked, answer) in answers {
            let e = &answer.existence;
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO existence_cache (session, phone, on_wa, canonical, lid, username, checked_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT(session, phone) DO UPDATE SET on_wa = excluded.on_wa,
                   canonical = excluded.canonical, lid = excluded.lid,
                   username = excluded.username, checked_ms = excluded.checked_ms",
            )
            .bind(session.as_str())
            .bind(asked.cache_key())
            .bind(i64::from(e.exists))
            .bind(e.phone.map(|p| p.wa_id()))
            .bind(e.lid.as_ref().map(|l| l.user().to_owned()))
            .bind(e.username.as_ref().map(|u| u.as_str().to_owned()))
            .bind(answer.checked_ms)
            .execute(&mut **c)
            .await.map(|r| r.rows_affected()))
            .context("Failed to cache a check")?;
            // The LID learned with the answer feeds the LID map and the contacts.
            if let (Some(lid), Some(phone)) = (&e.lid, &e.phone) {
                let (lid, pn) = (lid.user(), phone.wa_id());
                put_mapping(&mut tx, session.as_str(), lid, &pn).await?;
                merge_lid_row(&mut tx, session.as_str(), lid, &pn).await?;
            }
            // So does the username, on the contact it names (when we have one).
            if let Some(username) = &e.username {
                set_username(
                    &mut tx,
                    session.as_str(),
                    e.lid.as_ref(),
                    e.phone.as_ref(),
                    username,
                )
                .await?;
            }
        }
        tx.commit().await.context("Failed to cache checks")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Backend;

    async fn cached_checks_round_trip_and_feed_the_lid_map(backend: Backend) {
        let (_d, store, s) = crate::test_support::store_with_session(backend, "s").await;
        let asked = PhoneNumber::parse("+551187654321").unwrap();
        let canonical = PhoneNumber::parse("+5511987654321").unwrap();
        let absent = PhoneNumber::parse("+15550000000").unwrap();
        let lid = Lid::parse("777@lid").unwrap();
        let answer = CachedExistence {
            existence: Existence {
                exists: true,
                phone: Some(canonical),
                lid: Some(lid.clone()),
                username: None,
            },
            checked_ms: 42,
        };
        let (asked, absent) = (CheckKey::Phone(asked), CheckKey::Phone(absent));
        store
            .cache_checks(&s, &[(asked.clone(), answer.clone())])
            .await
            .unwrap();
        let read = store
            .cached_checks(&s, &[asked.clone(), absent])
            .await
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[&asked], answer);
        assert_eq!(
            store.pn_for_lid(&s, &lid).await.unwrap().as_deref(),
            Some("5511987654321")
        );
    }

    both_backends!(cached_checks_round_trip_and_feed_the_lid_map,);
}
