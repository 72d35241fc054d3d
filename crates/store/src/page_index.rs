//! Deep pages without walking the index. SQLite's OFFSET steps over every row before
//! the page (milliseconds at 100,000); instead every `STEP`-th key of a session's
//! listing is kept in memory, and a page starts from the nearest key before it, so no
//! page walks more than `STEP` rows. A trigger-maintained version per session
//! (migration 0003) tells when the keys are stale; they are rebuilt on the next deep
//! page. Small listings never build one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use wacontacts_core::session::SessionName;

use wacontacts_core::contact::{ContactSort, ListCursor};

use crate::contacts::cursor;
use crate::{Store, StoredContact};

/// Rows between two kept keys; also the offset from which pages use the index.
pub(crate) const STEP: u64 = 1000;
/// Indexes kept at most (a few KiB each); past it the cache starts over.
const MAX_ENTRIES: usize = 512;

/// Every `STEP`-th key of one session's listing in ascending order.
pub(crate) struct Checkpoints {
    version: i64,
    total: u64,
    /// `keys[i]` is the key of the row at position `(i + 1) * STEP - 1`.
    keys: Vec<ListCursor>,
}

/// The cache of checkpoints, per session and sort.
#[derive(Default)]
pub(crate) struct PageIndex {
    entries: Mutex<HashMap<(String, ContactSort), Arc<Checkpoints>>>,
}

impl std::fmt::Debug for PageIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageIndex")
    }
}

impl PageIndex {
    fn get(&self, key: &(String, ContactSort)) -> Option<Arc<Checkpoints>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: (String, ContactSort), value: Arc<Checkpoints>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, value);
        }
    }
}

impl Store {
    async fn contacts_version(&self, session: &SessionName) -> anyhow::Result<i64> {
        let v: Option<i64> = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT version FROM contacts_version WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await)?;
        Ok(v.unwrap_or(0))
    }

    /// The session's checkpoints for `sort`, rebuilt when the listing changed.
    async fn checkpoints(
        &self,
        session: &SessionName,
        sort: ContactSort,
    ) -> anyhow::Result<Arc<Checkpoints>> {
        let key = (session.as_str().to_owned(), sort);
        let version = self.contacts_version(session).await?;
        if let Some(found) = self.page_index().get(&key)
            && found.version == version
        {
            return Ok(found);
        }
        // One read transaction: version, count and keys from the same snapshot.
        let mut tx = self.pool().read_tx().await?;
        let version: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT version FROM contacts_version WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_optional(&mut **c)
        .await)?
        .unwrap_or(0);
        let total: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT count(*) FROM contacts WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_one(&mut **c)
        .await)?;
        let order = match sort {
            ContactSort::Id => "jid",
            ContactSort::Name => "sort_name, jid",
        };
        let sql = format!(
            "SELECT sort_name, jid FROM (SELECT sort_name, jid,
               row_number() OVER (ORDER BY {order}) AS rn FROM contacts WHERE session = $1) AS numbered
             WHERE rn % $2 = 0 ORDER BY rn"
        );
        let rows: Vec<(String, String)> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(session.as_str())
                .bind(STEP as i64)
                .fetch_all(&mut **c)
                .await)
            .context("Failed to build a page index")?;
        tx.commit().await?;
        let keys = rows
            .into_iter()
            .map(|(sort_name, jid)| cursor(sort_name, jid))
            .collect();
        let built = Arc::new(Checkpoints {
            version,
            total: total as u64,
            keys,
        });
        self.page_index().put(key, built.clone());
        Ok(built)
    }

    /// A page at `offset >= STEP`, walking at most `STEP` rows.
    pub(crate) async fn deep_rows(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        limit: u32,
        offset: u64,
    ) -> anyhow::Result<Vec<(StoredContact, String)>> {
        let cp = self.checkpoints(session, sort).await?;
        // The same rows in ascending order: a descending page is an ascending window
        // counted from the end.
        let (start, count) = if descending {
            let end = cp.total.saturating_sub(offset);
            let start = end.saturating_sub(u64::from(limit));
            (start, (end - start) as u32)
        } else {
            (offset, limit)
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let block = start / STEP;
        let mut rows = match block.checked_sub(1).and_then(|i| cp.keys.get(i as usize)) {
            Some(after) => {
                self.rows_after(session, sort, false, after, count, start - block * STEP)
                    .await?
            }
            None => self.offset_rows(session, sort, false, count, start).await?,
        };
        if descending {
            rows.reverse();
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImportedContact;
    use crate::test_support::Backend;
    use wacontacts_core::ids::ContactRef;
    use wacontacts_core::phone::{Convention, normalize};

    fn jids(rows: Vec<(StoredContact, String)>) -> Vec<String> {
        rows.into_iter().map(|(c, _)| c.jid).collect()
    }

    /// Deep pages must be exactly the pages plain OFFSET gives, in every order.
    async fn assert_same_as_offset(store: &Store, s: &SessionName, total: u64) {
        for sort in [ContactSort::Id, ContactSort::Name] {
            for descending in [false, true] {
                for offset in [
                    0,
                    999,
                    1000,
                    1001,
                    1999,
                    2000,
                    total - 50,
                    total - 1,
                    total,
                    total + 7,
                ] {
                    for limit in [1, 100] {
                        let deep = store
                            .list_rows(s, sort, descending, limit, offset)
                            .await
                            .unwrap();
                        let plain = store
                            .offset_rows(s, sort, descending, limit, offset)
                            .await
                            .unwrap();
                        assert_eq!(
                            jids(deep),
                            jids(plain),
                            "{sort:?} desc={descending} offset={offset} limit={limit}"
                        );
                    }
                }
            }
        }
    }

    async fn deep_pages_match_offset_pages_and_follow_writes(backend: Backend) {
        let (_dir, store, s) = crate::test_support::store_with_session(backend, "big").await;
        let rows: Vec<_> = (0..2_500u32)
            .map(|i| {
                let phone = normalize(
                    &format!("1555{:07}", i * 37 % 10_000_000),
                    &Convention::Waha,
                )
                .unwrap();
                // Names repeat, so the name order leans on the id tie-break.
                ImportedContact::named(phone, format!("Name {:03}", (i * 7919) % 600))
            })
            .collect();
        store.import_address_book(&s, &rows).await.unwrap();
        let total = store.count_contacts(&s).await.unwrap();
        assert_eq!(total, 2_500);
        assert_same_as_offset(&store, &s, total).await;

        // A new first-by-name contact and a rename shift every later position.
        let first = normalize("19990000001", &Convention::Waha).unwrap();
        store
            .set_push_name(&s, &ContactRef::Phone(first), "aaa first", None)
            .await
            .unwrap();
        let renamed = rows[1200].phone;
        store
            .set_push_name(&s, &ContactRef::Phone(renamed), "zzz", None)
            .await
            .unwrap();
        store
            .apply_address_book(
                &s,
                &ContactRef::Phone(renamed),
                crate::AddressBookRow {
                    phone: Some(&renamed),
                    full_name: Some("AAA renamed"),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        assert_same_as_offset(&store, &s, total + 1).await;
    }

    both_backends!(deep_pages_match_offset_pages_and_follow_writes,);
}
