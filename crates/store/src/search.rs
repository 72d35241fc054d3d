//! Contact search for the listing's `search` parameter: a substring of a name, or of a
//! number or LID. A substring cannot use an index, so the query walks the session's
//! rows in the listing's own index order (`contacts_by_name` or the primary key) and
//! stops as soon as the page is full: a common term answers after a few rows, a rare
//! one reads the session's rows once (about 30 ms at 100,000 contacts).

use anyhow::Context;
use wacontacts_core::contact::ContactSort;
use wacontacts_core::search::{ContactSearch, like_pattern};
use wacontacts_core::session::SessionName;

use crate::contacts::{CONTACT_JSON, listing_from_json};
use crate::{Store, StoredContact};

impl Store {
    /// A page of the contacts matching `search`, in the listing's order.
    pub(crate) async fn search_contacts(
        &self,
        session: &SessionName,
        search: &ContactSearch,
        sort: ContactSort,
        descending: bool,
        limit: u32,
        offset: u64,
    ) -> anyhow::Result<Vec<StoredContact>> {
        let dir = if descending { "DESC" } else { "ASC" };
        let order = match sort {
            ContactSort::Id => format!("c.jid {dir}"),
            ContactSort::Name => format!("c.sort_name {dir}, c.jid {dir}"),
        };
        // `sort_name` already holds the lowercased display name; the other names are
        // checked too, so a contact is found by any name it shows.
        let sql = format!(
            "SELECT json_group_array(json(x)) FROM (SELECT {CONTACT_JSON} AS x
             FROM contacts c WHERE c.session = ?1 AND (
                  c.sort_name LIKE ?2 ESCAPE '\\'
               OR lower(c.push_name) LIKE ?2 ESCAPE '\\'
               OR lower(c.verified_name) LIKE ?2 ESCAPE '\\'
               OR lower(c.business_name) LIKE ?2 ESCAPE '\\'
               OR (?3 IS NOT NULL AND (c.pn LIKE ?3 OR c.lid LIKE ?3)))
             ORDER BY {order} LIMIT ?4 OFFSET ?5)"
        );
        let json: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(session.as_str())
            .bind(like_pattern(search.text()))
            .bind(search.digits().map(like_pattern))
            .bind(i64::from(limit))
            .bind(offset as i64)
            .fetch_one(self.pool())
            .await
            .context("Failed to search contacts")?;
        Ok(listing_from_json(&json, sort, descending)?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }
}
