//! WhatsApp usernames on contacts: the username a check answered goes onto the
//! contact it names, and a contact is found by its username.

use anyhow::Context;
use sqlx::SqliteConnection;
use wacontacts_core::ids::{Lid, PhoneNumber};
use wacontacts_core::session::SessionName;
use wacontacts_core::username::Username;

use crate::Store;
use crate::contacts::{CONTACT_COLUMNS, StoredContact, contact_from_row};

/// Sets `username` on the session's contacts with this LID or number. Creates no
/// contact: a lookup alone does not make someone a contact.
pub(crate) async fn set_username(
    conn: &mut SqliteConnection,
    session: &str,
    lid: Option<&Lid>,
    phone: Option<&PhoneNumber>,
    username: &Username,
) -> anyhow::Result<()> {
    if lid.is_none() && phone.is_none() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE contacts SET username = ?4
         WHERE session = ?1 AND ((?2 IS NOT NULL AND lid = ?2) OR (?3 IS NOT NULL AND pn = ?3))
           AND username IS NOT ?4",
    )
    .bind(session)
    .bind(lid.map(|l| l.user().to_owned()))
    .bind(phone.map(|p| p.wa_id()))
    .bind(username.as_str())
    .execute(&mut *conn)
    .await
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
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.session = ?1 AND c.username = ?2
             ORDER BY c.updated_ms DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session.as_str())
            .bind(username.as_str())
            .fetch_optional(self.pool())
            .await
            .context("Failed to read a contact by username")?;
        row.as_ref().map(contact_from_row).transpose()
    }
}
