//! Bulk import of an address book: many contacts in one transaction, for a first
//! import (a CSV or vCard export) or to seed a database for tests and benchmarks.

use anyhow::Context;
use wacontacts_core::phone::PhoneNumber;
use wacontacts_core::session::SessionName;

use crate::{Store, now_ms};

/// One address-book entry of a bulk import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedContact {
    pub phone: PhoneNumber,
    /// The full name as saved in the address book.
    pub full_name: Option<String>,
    pub first_name: Option<String>,
}

impl ImportedContact {
    /// An entry with a full name and no separate first name.
    pub fn named(phone: PhoneNumber, full_name: impl Into<String>) -> Self {
        Self {
            phone,
            full_name: Some(full_name.into()),
            first_name: None,
        }
    }
}

impl Store {
    /// Saves many address-book entries of `session` at once: each number's row is
    /// created or updated (names replaced, marked as in the address book) exactly as
    /// [`Store::apply_address_book`] does for a phone-keyed entry, but in a single
    /// transaction with one prepared statement, so 100,000 rows take about a second.
    ///
    /// All or nothing: on any error nothing is written. A number listed twice ends
    /// with its last entry. The session must exist. Returns how many entries were
    /// written (`rows.len()`).
    pub async fn import_address_book(
        &self,
        session: &SessionName,
        rows: &[ImportedContact],
    ) -> anyhow::Result<u64> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        for row in rows {
            let pn = row.phone.wa_id();
            // sqlx caches the prepared statement per connection: one prepare, n binds.
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO contacts (session, jid, pn, name, first_name, is_my_contact, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, 1, $6)
                 ON CONFLICT(session, jid) DO UPDATE SET
                   pn = excluded.pn, name = excluded.name, first_name = excluded.first_name,
                   is_my_contact = 1, updated_ms = excluded.updated_ms",
            )
            .bind(session.as_str())
            .bind(format!("{pn}@s.whatsapp.net"))
            .bind(&pn)
            .bind(row.full_name.as_deref())
            .bind(row.first_name.as_deref())
            .bind(now)
            .execute(&mut **c)
            .await.map(|r| r.rows_affected()))
            .with_context(|| format!("Failed to import contact {}", row.phone.redacted()))?;
        }
        tx.commit()
            .await
            .context("Failed to commit the address-book import")?;
        Ok(rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Backend;
    use wacontacts_core::contact::ContactSort;

    fn pn(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    async fn imports_updates_and_lists_in_order(backend: Backend) {
        let (_dir, store, s) = crate::test_support::store_with_session(backend, "s").await;
        store
            .set_push_name(
                &s,
                &wacontacts_core::ids::ContactRef::Phone(pn("15550000002")),
                "Pushy",
                None,
            )
            .await
            .unwrap();
        let rows = vec![
            ImportedContact::named(pn("15550000003"), "carol"),
            ImportedContact {
                phone: pn("+1 555 000 0002"),
                full_name: Some("Bob Builder".into()),
                first_name: Some("Bob".into()),
            },
            ImportedContact::named(pn("15550000001"), "alice"),
            ImportedContact::named(pn("15550000003"), "Carol"),
        ];
        assert_eq!(store.import_address_book(&s, &rows).await.unwrap(), 4);
        assert_eq!(store.count_contacts(&s).await.unwrap(), 3);
        let list = store
            .list_contacts(&s, ContactSort::Name, false, 10, 0)
            .await
            .unwrap();
        let names: Vec<_> = list.iter().map(|c| c.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["alice", "Bob Builder", "Carol"], "last entry wins");
        let bob = &list[1];
        assert_eq!(bob.jid, "15550000002@s.whatsapp.net");
        assert_eq!(bob.pn.as_deref(), Some("15550000002"));
        assert_eq!(bob.first_name.as_deref(), Some("Bob"));
        assert_eq!(bob.push_name.as_deref(), Some("Pushy"), "kept on update");
        assert!(bob.is_my_contact);

        let unknown = SessionName::parse("no-such").unwrap();
        assert!(store.import_address_book(&unknown, &rows).await.is_err());
        assert_eq!(
            store.count_contacts(&unknown).await.unwrap(),
            0,
            "nothing written"
        );
    }

    both_backends!(imports_updates_and_lists_in_order);
}

#[cfg(test)]
mod chunk_tests {
    use super::*;
    use crate::test_support::Backend;
    use wacontacts_core::contact::ContactSort;

    /// Reading a listing in keyset chunks gives exactly the offset pages, in every order.
    async fn chunks_by_key_match_offset_pages(backend: Backend) {
        let (_dir, store, s) = crate::test_support::store_with_session(backend, "s").await;
        let names = ["bea", "Ana", "", "ana", "Caio", "bea", "dora"];
        let rows: Vec<_> = (0..47u32)
            .map(|i| {
                let phone = PhoneNumber::parse(&format!("+1555200{:04}", i * 37 % 1000)).unwrap();
                match names[i as usize % names.len()] {
                    "" => ImportedContact {
                        phone,
                        full_name: None,
                        first_name: None,
                    },
                    n => ImportedContact::named(phone, n),
                }
            })
            .collect();
        store.import_address_book(&s, &rows).await.unwrap();
        for sort in [ContactSort::Id, ContactSort::Name] {
            for descending in [false, true] {
                for start in [0u64, 3, 46, 47, 60] {
                    let want = store
                        .list_contacts(&s, sort, descending, 1000, start)
                        .await
                        .unwrap();
                    let mut got = Vec::new();
                    let mut after = None;
                    for round in 0.. {
                        assert!(round < 100, "chunks end");
                        let (chunk, next) = store
                            .list_contacts_chunk(&s, sort, descending, after.as_ref(), start, 5)
                            .await
                            .unwrap();
                        assert!(chunk.len() <= 5);
                        got.extend(chunk);
                        match next {
                            Some(c) => after = Some(c),
                            None => break,
                        }
                    }
                    assert_eq!(got, want, "{sort:?} desc={descending} from {start}");
                }
            }
        }
    }

    both_backends!(chunks_by_key_match_offset_pages,);
}
