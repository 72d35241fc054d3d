//! WhatsApp usernames on contacts: the username a check answered goes onto the
//! contact it names, and a contact is found by its username.

use anyhow::Context;
use wacontacts_core::ids::{Lid, PhoneNumber};
use wacontacts_core::session::SessionName;
use wacontacts_core::username::Username;

use crate::contacts::{CONTACT_COLUMNS, StoredContact, contact_from_row};
use crate::{Store, Tx};

/// Sets `username` on the session's contacts with this LID or number. Creates no
/// contact: a lookup alone does not make someone a contact.
pub(crate) async fn set_username(
    conn: &mut Tx,
    session: &str,
    lid: Option<&Lid>,
    phone: Option<&PhoneNumber>,
    username: &Username,
) -> anyhow::Result<()> {
    if lid.is_none() && phone.is_none() {
        return Ok(());
    }
    on_tx!(conn, |c| sqlx::query(
        "UPDATE contacts SET username = $4
         WHERE session = $1 AND (($2 IS NOT NULL AND lid = $2) OR ($3 IS NOT NULL AND pn = $3))
           AND username IS DISTINCT FROM $4",
    )
    .bind(session)
    .bind(lid.map(|l| l.user().to_owned()))
    .bind(phone.map(|p| p.wa_id()))
    .bind(username.as_str())
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))
    .context("Failed to store a contact's username")?;
    Ok(())
}

impl Store {
    /// The contact of the session whose username is `username` (usernames are
    /// stored lower case, as [`Username`] holds them).
    pub(crate) async fn contact_by_username(
        &self,
        session: &SessionName,
        username: &Username,
    ) -> anyhow::Result<Option<StoredContact>> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.session = $1 AND c.username = $2
             ORDER BY c.updated_ms DESC LIMIT 1"
        );
        on_pool!(self.pool(), |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session.as_str())
            .bind(username.as_str())
            .fetch_optional(pool)
            .await
            .context("Failed to read a contact by username")?
            .as_ref()
            .map(contact_from_row)
            .transpose())
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::Backend;
    use wacontacts_core::contact::{AddressBookEntry, CachedExistence, Existence};
    use wacontacts_core::ids::ContactRef;
    use wacontacts_core::ports::{CheckStore, ContactStore};
    use wacontacts_core::username::{CheckKey, UsernamePin, UsernameQuery};

    use super::*;

    async fn a_username_check_names_a_contact_and_is_cached_per_pin(backend: Backend) {
        let (_d, store, s) = crate::test_support::store_with_session(backend, "s").await;
        let phone = PhoneNumber::parse("+15550001234").unwrap();
        let lid = Lid::parse("4242@lid").unwrap();
        store
            .save_address_book(
                &s,
                &AddressBookEntry {
                    who: ContactRef::Phone(phone),
                    phone: Some(phone),
                    lid: Some(lid.clone()),
                    full_name: Some("Zoe".into()),
                    first_name: None,
                    username: None,
                    at_ms: 1,
                },
            )
            .await
            .unwrap();
        let zoe = Username::parse("zoe.x").unwrap();
        assert_eq!(store.contact_by_username(&s, &zoe).await.unwrap(), None);
        let with_pin = CheckKey::Username(UsernameQuery {
            username: zoe.clone(),
            pin: Some(UsernamePin::parse("1234").unwrap()),
        });
        let without = CheckKey::Username(UsernameQuery {
            username: zoe.clone(),
            pin: None,
        });
        let found = CachedExistence {
            existence: Existence {
                exists: true,
                phone: None,
                lid: Some(lid.clone()),
                username: Some(zoe.clone()),
            },
            checked_ms: 7,
        };
        store
            .cache_checks(&s, &[(with_pin.clone(), found.clone())])
            .await
            .unwrap();
        let read = store
            .cached_checks(&s, &[with_pin.clone(), without])
            .await
            .unwrap();
        assert_eq!(read.len(), 1, "a PIN is its own key");
        assert_eq!(read[&with_pin], found);
        let contact = ContactStore::contact_by_username(&store, &s, &zoe)
            .await
            .unwrap()
            .expect("the contact carries the username");
        assert_eq!(contact.phone, Some(phone));
        assert_eq!(contact.username.as_deref(), Some("zoe.x"));
    }

    both_backends!(a_username_check_names_a_contact_and_is_cached_per_pin,);
}
