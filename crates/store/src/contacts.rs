//! Contacts, the LID map, number history, identity changes and the blocklist: the facts
//! WhatsApp's events and our lookups tell about the people of a session.

use std::collections::HashMap;

use crate::db::{Value, dialect};
use crate::{DbRow, Tx};
use anyhow::Context;
use wacontacts_core::contact::{ContactSort, ListCursor};
use wacontacts_core::ids::{ContactRef, Lid};
use wacontacts_core::phone::PhoneNumber;
use wacontacts_core::session::SessionName;

use crate::webhooks::{Emit, emit_in};
use crate::{Store, now_ms};

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct StoredContact {
    /// `DIGITS@s.whatsapp.net`, or `DIGITS@lid` while the phone number is unknown.
    pub jid: String,
    /// E.164 digits without `+`.
    pub pn: Option<String>,
    /// LID user digits.
    pub lid: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub username: Option<String>,
    pub push_name: Option<String>,
    pub business_name: Option<String>,
    pub verified_name: Option<String>,
    pub is_business: bool,
    pub is_my_contact: bool,
    pub is_blocked: bool,
    pub about: Option<String>,
    pub about_fetched_ms: Option<i64>,
    pub picture_id: Option<String>,
    pub picture_url: Option<String>,
    pub picture_fetched_ms: Option<i64>,
    pub updated_ms: i64,
}

/// An address-book entry as the phone syncs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressBookRow<'a> {
    pub phone: Option<&'a PhoneNumber>,
    pub lid: Option<&'a Lid>,
    pub full_name: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// A listing cursor at the row keyed `jid` with sort name `sort_name`.
pub(crate) fn cursor(sort_name: String, jid: String) -> ListCursor {
    ListCursor {
        sort_name,
        key: jid,
    }
}

/// One number change in a contact's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberChangeRow {
    pub lid: Option<String>,
    pub old_pn: String,
    pub new_pn: String,
    pub at_ms: i64,
}

/// One LID map entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LidMapRow {
    pub lid: String,
    pub pn: String,
}

/// One blocklist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockRow {
    /// As WhatsApp keys it: `…@lid` or `…@s.whatsapp.net`.
    pub jid: String,
    /// The phone number digits, when the entry is a phone or a mapped LID.
    pub pn: Option<String>,
    /// The LID digits, when the entry is a LID.
    pub lid: Option<String>,
    pub blocked_ms: Option<i64>,
}

const PN_SERVER: &str = "@s.whatsapp.net";
const LID_SERVER: &str = "@lid";

fn pn_key(pn: &str) -> String {
    format!("{pn}{PN_SERVER}")
}

fn lid_key(lid: &str) -> String {
    format!("{lid}{LID_SERVER}")
}

/// The blocklist stores what WhatsApp names: phone or LID jids.
fn ref_jid(who: &ContactRef) -> String {
    match who {
        ContactRef::Phone(p) => pn_key(&p.wa_id()),
        ContactRef::Lid(l) => lid_key(l.user()),
    }
}

async fn pn_of_lid(conn: &mut Tx, session: &str, lid: &str) -> anyhow::Result<Option<String>> {
    Ok(on_tx!(conn, |c| sqlx::query_scalar(
        "SELECT pn FROM lid_map WHERE session = $1 AND lid = $2"
    )
    .bind(session)
    .bind(lid)
    .fetch_optional(&mut **c)
    .await)?)
}

/// The row key for a person: the phone row when the number is known or mapped.
async fn key_of(
    conn: &mut Tx,
    session: &str,
    who: &ContactRef,
) -> anyhow::Result<(String, Option<String>, Option<String>)> {
    Ok(match who {
        ContactRef::Phone(p) => {
            let pn = p.wa_id();
            (pn_key(&pn), Some(pn), None)
        }
        ContactRef::Lid(l) => match pn_of_lid(conn, session, l.user()).await? {
            Some(pn) => (pn_key(&pn), Some(pn), Some(l.user().to_owned())),
            None => (lid_key(l.user()), None, Some(l.user().to_owned())),
        },
    })
}

/// Most number changes followed from an old number to the current one.
const MAX_NUMBER_HOPS: usize = 8;

/// Every contact key identity changes of `who` may be stored under: its row key,
/// and its phone and LID keys (a change seen before the LID was mapped).
pub(crate) async fn identity_keys(
    conn: &mut Tx,
    session: &str,
    who: &ContactRef,
) -> anyhow::Result<Vec<String>> {
    let (jid, pn, lid) = key_of(conn, session, who).await?;
    let lid = match (&lid, &pn) {
        (None, Some(pn)) => on_tx!(conn, |c| sqlx::query_scalar(
            "SELECT lid FROM lid_map WHERE session = $1 AND pn = $2"
        )
        .bind(session)
        .bind(pn)
        .fetch_optional(&mut **c)
        .await)?,
        _ => lid,
    };
    let mut keys = vec![jid];
    keys.extend(pn.as_deref().map(pn_key));
    keys.extend(lid.as_deref().map(lid_key));
    Ok(keys)
}

/// Makes sure the row exists and carries the pn/lid we know; returns its key.
async fn ensure_row(conn: &mut Tx, session: &str, who: &ContactRef) -> anyhow::Result<String> {
    let (jid, pn, lid) = key_of(conn, session, who).await?;
    on_tx!(conn, |c| sqlx::query(
        "INSERT INTO contacts (session, jid, pn, lid, updated_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT(session, jid) DO UPDATE SET
           pn = coalesce(excluded.pn, contacts.pn),
           lid = coalesce(excluded.lid, contacts.lid)",
    )
    .bind(session)
    .bind(&jid)
    .bind(pn)
    .bind(lid)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(jid)
}

/// Folds a LID-keyed row into the phone row once the mapping is known: phone-row
/// values win, the LID row fills the gaps, then it goes.
pub(crate) async fn merge_lid_row(
    conn: &mut Tx,
    session: &str,
    lid: &str,
    pn: &str,
) -> anyhow::Result<()> {
    let from = lid_key(lid);
    let to = pn_key(pn);
    let exists: Option<i32> = on_tx!(conn, |c| sqlx::query_scalar(
        "SELECT 1 FROM contacts WHERE session = $1 AND jid = $2"
    )
    .bind(session)
    .bind(&from)
    .fetch_optional(&mut **c)
    .await)?;
    if exists.is_none() {
        on_tx!(conn, |c| sqlx::query(
            "UPDATE contacts SET lid = $3 WHERE session = $1 AND jid = $2"
        )
        .bind(session)
        .bind(&to)
        .bind(lid)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        return Ok(());
    }
    on_tx!(conn, |c| sqlx::query(
        "INSERT INTO contacts (session, jid, pn, lid, updated_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT(session, jid) DO UPDATE SET lid = excluded.lid",
    )
    .bind(session)
    .bind(&to)
    .bind(pn)
    .bind(lid)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?;
    on_tx!(conn, |c| {
        sqlx::query(
        "UPDATE contacts AS t SET
           name = coalesce(t.name, f.name),
           first_name = coalesce(t.first_name, f.first_name),
           username = coalesce(t.username, f.username),
           push_name = coalesce(t.push_name, f.push_name),
           business_name = coalesce(t.business_name, f.business_name),
           verified_name = coalesce(t.verified_name, f.verified_name),
           is_business = CASE WHEN t.is_business > f.is_business THEN t.is_business ELSE f.is_business END,
           is_my_contact = CASE WHEN t.is_my_contact > f.is_my_contact THEN t.is_my_contact ELSE f.is_my_contact END,
           about = coalesce(t.about, f.about),
           about_fetched_ms = coalesce(t.about_fetched_ms, f.about_fetched_ms),
           picture_id = coalesce(t.picture_id, f.picture_id),
           picture_url = coalesce(t.picture_url, f.picture_url),
           picture_fetched_ms = coalesce(t.picture_fetched_ms, f.picture_fetched_ms),
           updated_ms = CASE WHEN t.updated_ms > f.updated_ms THEN t.updated_ms ELSE f.updated_ms END
         FROM (SELECT * FROM contacts WHERE session = $1 AND jid = $2) AS f
         WHERE t.session = $1 AND t.jid = $3",
    )
    .bind(session)
    .bind(&from)
    .bind(&to)
    .execute(&mut **c)
    .await.map(|r| r.rows_affected())
    })?;
    on_tx!(conn, |c| sqlx::query(
        "DELETE FROM contacts WHERE session = $1 AND jid = $2"
    )
    .bind(session)
    .bind(&from)
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records `lid -> pn`, replacing any other mapping of either side.
pub(crate) async fn put_mapping(
    conn: &mut Tx,
    session: &str,
    lid: &str,
    pn: &str,
) -> anyhow::Result<()> {
    on_tx!(conn, |c| sqlx::query(
        "DELETE FROM lid_map WHERE session = $1 AND pn = $2 AND lid <> $3"
    )
    .bind(session)
    .bind(pn)
    .bind(lid)
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?;
    on_tx!(conn, |c| {
        sqlx::query(
        "INSERT INTO lid_map (session, lid, pn, updated_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT(session, lid) DO UPDATE SET pn = excluded.pn, updated_ms = excluded.updated_ms",
    )
    .bind(session)
    .bind(lid)
    .bind(pn)
    .bind(now_ms())
    .execute(&mut **c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub(crate) fn contact_from_row(row: &impl DbRow) -> anyhow::Result<StoredContact> {
    Ok(StoredContact {
        jid: row.try_get("jid")?,
        pn: row.try_get("pn")?,
        lid: row.try_get("lid")?,
        name: row.try_get("name")?,
        first_name: row.try_get("first_name")?,
        username: row.try_get("username")?,
        push_name: row.try_get("push_name")?,
        business_name: row.try_get("business_name")?,
        verified_name: row.try_get("verified_name")?,
        is_business: row.try_get::<i64, _>("is_business")? != 0,
        is_my_contact: row.try_get::<i64, _>("is_my_contact")? != 0,
        is_blocked: row.try_get::<i64, _>("is_blocked")? != 0,
        about: row.try_get("about")?,
        about_fetched_ms: row.try_get("about_fetched_ms")?,
        picture_id: row.try_get("picture_id")?,
        picture_url: row.try_get("picture_url")?,
        picture_fetched_ms: row.try_get("picture_fetched_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

/// Columns of a contact, with `is_blocked` joined from the blocklist (by phone or LID).
pub(crate) const CONTACT_COLUMNS: &str =
    "c.*, CAST(CASE WHEN EXISTS (SELECT 1 FROM blocklist b WHERE b.session = c.session
      AND (b.jid = c.jid OR (c.lid IS NOT NULL AND b.jid = c.lid || '@lid')))
      THEN 1 ELSE 0 END AS BIGINT) AS is_blocked";

/// A listed contact as one JSON array (two nested, for serde's tuple sizes), so that a
/// whole page comes back from SQLite as a single row: sqlx's SQLite driver hands each
/// row from its worker thread to the async side on its own, and those handoffs cost
/// more than the query itself on long listings. `pg`: PostgreSQL's spelling.
pub(crate) fn contact_json(pg: bool) -> String {
    let array = dialect::json_array(pg);
    format!(
        "{array}({array}(c.jid, c.pn, c.lid, c.name, c.first_name,
      c.username, c.push_name, c.business_name, c.verified_name, c.is_business,
      c.is_my_contact, CASE WHEN EXISTS (SELECT 1 FROM blocklist b WHERE b.session = c.session
      AND (b.jid = c.jid OR (c.lid IS NOT NULL AND b.jid = c.lid || '@lid'))) THEN 1 ELSE 0 END),
    {array}(c.about, c.about_fetched_ms, c.picture_id, c.picture_url,
      c.picture_fetched_ms, c.updated_ms, c.sort_name))"
    )
}

type JsonHead = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
);
type JsonTail = (
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    String,
);

/// Decodes a JSON array ([`dialect::json_agg`]) of [`contact_json`] into contacts with their sort
/// names, in the listing's order (re-checked here: SQL leaves an aggregate's input
/// order unspecified).
pub(crate) fn listing_from_json(
    json: &str,
    sort: ContactSort,
    descending: bool,
) -> anyhow::Result<Vec<(StoredContact, String)>> {
    let rows: Vec<(JsonHead, JsonTail)> =
        serde_json::from_str(json).context("Failed to decode a contact listing")?;
    let mut out: Vec<(StoredContact, String)> = rows
        .into_iter()
        .map(|(h, t)| {
            let contact = StoredContact {
                jid: h.0,
                pn: h.1,
                lid: h.2,
                name: h.3,
                first_name: h.4,
                username: h.5,
                push_name: h.6,
                business_name: h.7,
                verified_name: h.8,
                is_business: h.9 != 0,
                is_my_contact: h.10 != 0,
                is_blocked: h.11 != 0,
                about: t.0,
                about_fetched_ms: t.1,
                picture_id: t.2,
                picture_url: t.3,
                picture_fetched_ms: t.4,
                updated_ms: t.5,
            };
            (contact, t.6)
        })
        .collect();
    // Byte-wise, as SQLite compares TEXT; a no-op pass when already in order.
    out.sort_by(|(a, an), (b, bn)| {
        let ord = match sort {
            ContactSort::Id => a.jid.cmp(&b.jid),
            ContactSort::Name => (an, &a.jid).cmp(&(bn, &b.jid)),
        };
        if descending { ord.reverse() } else { ord }
    });
    Ok(out)
}

impl Store {
    /// Applies an address-book entry (added or renamed on the phone).
    pub(crate) async fn apply_address_book(
        &self,
        session: &SessionName,
        who: &ContactRef,
        entry: AddressBookRow<'_>,
        emit: Emit,
    ) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        if let (Some(lid), Some(pn)) = (entry.lid, entry.phone) {
            put_mapping(&mut tx, session.as_str(), lid.user(), &pn.wa_id()).await?;
            merge_lid_row(&mut tx, session.as_str(), lid.user(), &pn.wa_id()).await?;
        }
        let who = match entry.phone {
            Some(p) => ContactRef::Phone(*p),
            None => who.clone(),
        };
        let jid = ensure_row(&mut tx, session.as_str(), &who).await?;
        on_tx!(&mut tx, |c| sqlx::query(
            "UPDATE contacts SET name = $3, first_name = $4, username = coalesce($5, username),
               lid = coalesce($6, lid), is_my_contact = 1, updated_ms = $7
             WHERE session = $1 AND jid = $2",
        )
        .bind(session.as_str())
        .bind(&jid)
        .bind(entry.full_name)
        .bind(entry.first_name)
        .bind(entry.username)
        .bind(entry.lid.map(|l| l.user().to_owned()))
        .bind(now_ms())
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        emit_in(&mut tx, session.as_str(), emit).await?;
        tx.commit()
            .await
            .context("Failed to store an address-book contact")
    }

    /// Records the name a person set for themselves.
    pub(crate) async fn set_push_name(
        &self,
        session: &SessionName,
        who: &ContactRef,
        name: &str,
        emit: Emit,
    ) -> anyhow::Result<()> {
        let values = [Value::Text(Some(name))];
        self.update_contact(session, who, "push_name = $4", emit, &values)
            .await
    }

    /// Records a profile picture change; the URL is dropped so the next read refetches.
    pub(crate) async fn set_picture_id(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
        emit: Emit,
    ) -> anyhow::Result<()> {
        self.update_contact(
            session,
            who,
            "picture_id = $4, picture_url = NULL, picture_fetched_ms = NULL",
            emit,
            &[Value::Text(picture_id)],
        )
        .await
    }

    /// Caches a fetched profile picture (`None` = none or hidden) with the fetch time.
    pub(crate) async fn cache_picture(
        &self,
        session: &SessionName,
        who: &ContactRef,
        picture_id: Option<&str>,
        url: Option<&str>,
        now: i64,
    ) -> anyhow::Result<()> {
        self.update_contact(
            session,
            who,
            "picture_id = $4, picture_url = $5, picture_fetched_ms = $6",
            None,
            &[
                Value::Text(picture_id),
                Value::Text(url),
                Value::Int(Some(now)),
            ],
        )
        .await
    }

    /// Records a person's "about" text (from an event or a lookup) with the time.
    pub(crate) async fn set_about(
        &self,
        session: &SessionName,
        who: &ContactRef,
        about: Option<&str>,
        now: i64,
        emit: Emit,
    ) -> anyhow::Result<()> {
        self.update_contact(
            session,
            who,
            "about = $4, about_fetched_ms = $5",
            emit,
            &[Value::Text(about), Value::Int(Some(now))],
        )
        .await
    }

    /// Records whether a person is a business and its verified name.
    pub(crate) async fn set_business(
        &self,
        session: &SessionName,
        who: &ContactRef,
        is_business: bool,
        verified_name: Option<&str>,
        emit: Emit,
    ) -> anyhow::Result<()> {
        self.update_contact(
            session,
            who,
            "is_business = $4, verified_name = coalesce($5, verified_name)",
            emit,
            &[
                Value::Int(Some(i64::from(is_business))),
                Value::Text(verified_name),
            ],
        )
        .await
    }

    /// Sets the columns of `set` (`$4`… = `values`) on the contact `who`, creating its
    /// row when missing, and emits `emit` in the same transaction.
    async fn update_contact(
        &self,
        session: &SessionName,
        who: &ContactRef,
        set: &str,
        emit: Emit,
        values: &[Value<'_>],
    ) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        let jid = ensure_row(&mut tx, session.as_str(), who).await?;
        let sql =
            format!("UPDATE contacts SET {set}, updated_ms = $3 WHERE session = $1 AND jid = $2");
        on_tx!(&mut tx, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(session.as_str())
                .bind(&jid)
                .bind(now_ms());
            for value in values {
                query = match value {
                    Value::Text(text) => query.bind(*text),
                    Value::Int(int) => query.bind(*int),
                };
            }
            query.execute(&mut **c).await.map(drop)
        })?;
        emit_in(&mut tx, session.as_str(), emit).await?;
        tx.commit().await.context("Failed to update a contact")
    }

    /// Records a LID <-> phone number mapping and merges what we knew under the LID.
    pub(crate) async fn add_lid_mapping(
        &self,
        session: &SessionName,
        lid: &Lid,
        pn: &PhoneNumber,
        emit: Emit,
    ) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        let known: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT pn FROM lid_map WHERE session = $1 AND lid = $2"
        )
        .bind(session.as_str())
        .bind(lid.user())
        .fetch_optional(&mut **c)
        .await)?;
        put_mapping(&mut tx, session.as_str(), lid.user(), &pn.wa_id()).await?;
        merge_lid_row(&mut tx, session.as_str(), lid.user(), &pn.wa_id()).await?;
        if known.as_deref() != Some(pn.wa_id().as_str()) {
            emit_in(&mut tx, session.as_str(), emit).await?;
        }
        tx.commit().await.context("Failed to store a LID mapping")
    }

    /// Records a number change: the LID now maps to the new number, the contact row
    /// moves to it, and the change is kept in the history.
    pub(crate) async fn record_number_change(
        &self,
        session: &SessionName,
        lid: Option<&Lid>,
        old: &PhoneNumber,
        new: &PhoneNumber,
        at_ms: i64,
        emit: Emit,
    ) -> anyhow::Result<()> {
        let s = session.as_str();
        let (old_pn, new_pn) = (old.wa_id(), new.wa_id());
        let mut tx = self.write_tx().await?;
        on_tx!(&mut tx, |c| {
            sqlx::query("INSERT INTO number_history (session, lid, old_pn, new_pn, at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(s)
            .bind(lid.map(|l| l.user().to_owned()))
            .bind(&old_pn)
            .bind(&new_pn)
            .bind(at_ms)
            .execute(&mut **c)
            .await.map(|r| r.rows_affected())
        })?;
        if let Some(lid) = lid {
            put_mapping(&mut tx, s, lid.user(), &new_pn).await?;
        }
        let new_exists: Option<i32> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT 1 FROM contacts WHERE session = $1 AND jid = $2"
        )
        .bind(s)
        .bind(pn_key(&new_pn))
        .fetch_optional(&mut **c)
        .await)?;
        if new_exists.is_none() {
            on_tx!(&mut tx, |c| {
                sqlx::query("UPDATE contacts SET jid = $3, pn = $4, lid = coalesce($5, lid), updated_ms = $6 WHERE session = $1 AND jid = $2")
                .bind(s)
                .bind(pn_key(&old_pn))
                .bind(pn_key(&new_pn))
                .bind(&new_pn)
                .bind(lid.map(|l| l.user().to_owned()))
                .bind(now_ms())
                .execute(&mut **c)
                .await.map(|r| r.rows_affected())
            })?;
        }
        // Someone never stored under the old number is still someone under the new.
        let jid = ensure_row(&mut tx, s, &ContactRef::Phone(*new)).await?;
        on_tx!(&mut tx, |c| sqlx::query(
            "UPDATE contacts SET lid = coalesce($3, lid) WHERE session = $1 AND jid = $2"
        )
        .bind(s)
        .bind(jid)
        .bind(lid.map(|l| l.user().to_owned()))
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        emit_in(&mut tx, s, emit).await?;
        tx.commit().await.context("Failed to store a number change")
    }

    /// Records an identity (security code) change.
    pub(crate) async fn record_identity_change(
        &self,
        session: &SessionName,
        who: &ContactRef,
        implicit: bool,
        at_ms: i64,
        hash: Option<&str>,
        emit: Emit,
    ) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        let jid = ensure_row(&mut tx, session.as_str(), who).await?;
        on_tx!(&mut tx, |c| {
            sqlx::query(
            "INSERT INTO identity_changes (session, jid, implicit, at_ms, hash) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.as_str())
        .bind(jid)
        .bind(implicit)
        .bind(at_ms)
        .bind(hash)
        .execute(&mut **c)
        .await.map(|r| r.rows_affected())
        })?;
        emit_in(&mut tx, session.as_str(), emit).await?;
        tx.commit()
            .await
            .context("Failed to store an identity change")
    }

    /// Replaces the whole blocklist.
    pub(crate) async fn replace_blocklist(
        &self,
        session: &SessionName,
        entries: &[(ContactRef, Option<i64>)],
        emit: Emit,
    ) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        // WhatsApp tells block times in seconds (or not at all); a block recorded here
        // to the millisecond keeps its time when the snapshot agrees to the second.
        let recorded: HashMap<String, i64> = on_tx!(&mut tx, |c| {
            sqlx::query_as::<_, (String, i64)>(
            "SELECT jid, blocked_ms FROM blocklist WHERE session = $1 AND blocked_ms IS NOT NULL"
        )
        .bind(session.as_str())
        .fetch_all(&mut **c)
        .await
        })?
        .into_iter()
        .collect();
        on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM blocklist WHERE session = $1"
        )
        .bind(session.as_str())
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        for (who, told) in entries {
            let jid = ref_jid(who);
            let at = match (recorded.get(&jid), told) {
                (Some(&ours), None) => Some(ours),
                (Some(&ours), Some(t)) if ours.div_euclid(1000) == t.div_euclid(1000) => Some(ours),
                _ => *told,
            };
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO blocklist (session, jid, blocked_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (session, jid) DO UPDATE SET blocked_ms = excluded.blocked_ms",
            )
            .bind(session.as_str())
            .bind(&jid)
            .bind(at)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        emit_in(&mut tx, session.as_str(), emit).await?;
        tx.commit().await.context("Failed to store the blocklist")
    }

    /// Adds or removes one blocklist entry. WhatsApp keys blocks by LID, so a phone
    /// number with a known LID is recorded under the LID; removal clears both forms.
    pub(crate) async fn set_blocked(
        &self,
        session: &SessionName,
        who: &ContactRef,
        blocked: bool,
        emit: Emit,
    ) -> anyhow::Result<()> {
        let s = session.as_str();
        let mut tx = self.write_tx().await?;
        let (phone_key, lid) = match who {
            ContactRef::Phone(p) => {
                let lid: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                    "SELECT lid FROM lid_map WHERE session = $1 AND pn = $2"
                )
                .bind(s)
                .bind(p.wa_id())
                .fetch_optional(&mut **c)
                .await)?;
                (Some(pn_key(&p.wa_id())), lid)
            }
            ContactRef::Lid(l) => {
                let pn = pn_of_lid(&mut tx, s, l.user()).await?;
                (pn.as_deref().map(pn_key), Some(l.user().to_owned()))
            }
        };
        let lid_key = lid.as_deref().map(lid_key);
        for key in [&phone_key, &lid_key].into_iter().flatten() {
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM blocklist WHERE session = $1 AND jid = $2"
            )
            .bind(s)
            .bind(key)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        if blocked && let Some(key) = lid_key.or(phone_key) {
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO blocklist (session, jid, blocked_ms) VALUES ($1, $2, $3)"
            )
            .bind(s)
            .bind(key)
            .bind(now_ms())
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        emit_in(&mut tx, s, emit).await?;
        tx.commit().await.context("Failed to store a block change")
    }

    /// Records the linked account's own push name.
    pub(crate) async fn set_own_push_name(
        &self,
        session: &SessionName,
        name: &str,
    ) -> anyhow::Result<()> {
        on_pool!(self.pool(), |pool| sqlx::query(
            "UPDATE sessions SET me_push_name = $2 WHERE name = $1"
        )
        .bind(session.as_str())
        .bind(name)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to store the own push name")?;
        Ok(())
    }

    /// The linked account's own push name, when known.
    pub async fn own_push_name(&self, session: &SessionName) -> anyhow::Result<Option<String>> {
        let name: Option<Option<String>> = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT me_push_name FROM sessions WHERE name = $1"
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await)?;
        Ok(name.flatten())
    }

    /// A page of contacts in a stable order.
    pub(crate) async fn list_contacts(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        limit: u32,
        offset: u64,
    ) -> anyhow::Result<Vec<StoredContact>> {
        let rows = self
            .list_rows(session, sort, descending, limit, offset)
            .await?;
        Ok(rows.into_iter().map(|(c, _)| c).collect())
    }

    pub(crate) async fn list_rows(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        limit: u32,
        offset: u64,
    ) -> anyhow::Result<Vec<(StoredContact, String)>> {
        if offset >= crate::page_index::STEP {
            return self
                .deep_rows(session, sort, descending, limit, offset)
                .await;
        }
        self.offset_rows(session, sort, descending, limit, offset)
            .await
    }

    /// A page by SQL OFFSET: fine for shallow pages.
    pub(crate) async fn offset_rows(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        limit: u32,
        offset: u64,
    ) -> anyhow::Result<Vec<(StoredContact, String)>> {
        let dir = if descending { "DESC" } else { "ASC" };
        let order = match sort {
            ContactSort::Id => format!("jid {dir}"),
            ContactSort::Name => format!("sort_name {dir}, jid {dir}"),
        };
        // Page through the covering index first, then fetch only the page's rows.
        let sql = |pg| {
            format!(
                "{agg} FROM (SELECT {json} AS x
             FROM contacts c WHERE c.rowid IN
               (SELECT rowid FROM contacts WHERE session = $1 ORDER BY {order} LIMIT $2 OFFSET $3)
             ORDER BY {order}) AS page",
                agg = dialect::json_agg(pg),
                json = contact_json(pg),
            )
        };
        let json: String = on_pool!(self.pool(), |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql(PG)
        ))
        .bind(session.as_str())
        .bind(i64::from(limit))
        .bind(offset as i64)
        .fetch_one(pool)
        .await)
        .context("Failed to list contacts")?;
        listing_from_json(&json, sort, descending)
    }

    /// A chunk of the listing that [`Store::list_contacts`] gives, continued by key
    /// (keyset pagination): the first chunk starts at `offset` (`after` = `None`), each
    /// next one right after the returned cursor, so no chunk re-skips the rows before
    /// it and reading the whole list costs the same per row at any depth. The cursor is
    /// `None` once a chunk comes back shorter than `limit`.
    pub(crate) async fn list_contacts_chunk(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        after: Option<&ListCursor>,
        offset: u64,
        limit: u32,
    ) -> anyhow::Result<(Vec<StoredContact>, Option<ListCursor>)> {
        let rows = match after {
            None => {
                self.list_rows(session, sort, descending, limit, offset)
                    .await?
            }
            Some(after) => {
                self.rows_after(session, sort, descending, after, limit, 0)
                    .await?
            }
        };
        let cursor = match rows.last() {
            Some((last, sort_name)) if rows.len() >= limit as usize => {
                Some(cursor(sort_name.clone(), last.jid.clone()))
            }
            _ => None,
        };
        Ok((rows.into_iter().map(|(c, _)| c).collect(), cursor))
    }

    /// Rows after `after` in the listing's order, skipping `skip` of them first.
    pub(crate) async fn rows_after(
        &self,
        session: &SessionName,
        sort: ContactSort,
        descending: bool,
        after: &ListCursor,
        limit: u32,
        skip: u64,
    ) -> anyhow::Result<Vec<(StoredContact, String)>> {
        let (dir, cmp) = if descending {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        let (order, from) = match sort {
            ContactSort::Id => (format!("c.jid {dir}"), format!("c.jid {cmp} $3")),
            ContactSort::Name => (
                format!("c.sort_name {dir}, c.jid {dir}"),
                format!("(c.sort_name, c.jid) {cmp} ($2, $3)"),
            ),
        };
        let sql = |pg| {
            format!(
                "{agg} FROM (SELECT {json} AS x
             FROM contacts c WHERE c.session = $1 AND {from} ORDER BY {order} LIMIT $4 OFFSET $5) AS page",
                agg = dialect::json_agg(pg),
                json = contact_json(pg),
            )
        };
        let json: String = on_pool!(self.pool(), |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql(PG)
        ))
        .bind(session.as_str())
        .bind(&after.sort_name)
        .bind(&after.key)
        .bind(i64::from(limit))
        .bind(skip as i64)
        .fetch_one(pool)
        .await)
        .context("Failed to list contacts")?;
        listing_from_json(&json, sort, descending)
    }

    /// How many contacts a session has.
    pub async fn count_contacts(&self, session: &SessionName) -> anyhow::Result<u64> {
        let n: i64 = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT count(*) FROM contacts WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_one(pool)
        .await)?;
        Ok(n as u64)
    }

    /// One contact by phone or LID (a LID finds the phone row once mapped).
    pub(crate) async fn get_contact(
        &self,
        session: &SessionName,
        who: &ContactRef,
    ) -> anyhow::Result<Option<StoredContact>> {
        let mut conn = self.pool().read_tx().await?;
        let conn = &mut conn;
        let mut who = who.clone();
        // A number someone left finds them under the number they moved to.
        for _ in 0..MAX_NUMBER_HOPS {
            let (jid, _, lid) = key_of(conn, session.as_str(), &who).await?;
            let sql = format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.session = $1 AND (c.jid = $2 OR ($3 IS NOT NULL AND c.lid = $3)) LIMIT 1"
            );
            let found = on_tx!(conn, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(session.as_str())
                .bind(jid)
                .bind(lid)
                .fetch_optional(&mut **c)
                .await
                .context("Failed to read a contact")?
                .as_ref()
                .map(contact_from_row)
                .transpose()?);
            if let Some(found) = found {
                return Ok(Some(found));
            }
            let ContactRef::Phone(phone) = &who else {
                return Ok(None);
            };
            let moved: Option<String> = on_tx!(conn, |c| sqlx::query_scalar(
                "SELECT new_pn FROM number_history WHERE session = $1 AND old_pn = $2
                 ORDER BY at_ms DESC, rowid DESC LIMIT 1",
            )
            .bind(session.as_str())
            .bind(phone.wa_id())
            .fetch_optional(&mut **c)
            .await)
            .context("Failed to read the number history")?;
            match moved.and_then(|d| PhoneNumber::parse(&format!("+{d}")).ok()) {
                Some(next) => who = ContactRef::Phone(next),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The phone number mapped to a LID (digits), when known.
    pub(crate) async fn pn_for_lid(
        &self,
        session: &SessionName,
        lid: &Lid,
    ) -> anyhow::Result<Option<String>> {
        let mut conn = self.pool().read_tx().await?;
        pn_of_lid(&mut conn, session.as_str(), lid.user()).await
    }

    /// The LIDs mapped to many phone numbers in one query: phone digits → LID digits,
    /// unknown numbers absent.
    pub(crate) async fn lids_for_pns(
        &self,
        session: &SessionName,
        pns: &[PhoneNumber],
    ) -> anyhow::Result<std::collections::HashMap<String, String>> {
        let digits: Vec<String> = pns.iter().map(|p| p.wa_id()).collect();
        let digits = serde_json::to_string(&digits)?;
        let sql = |pg| {
            format!(
                "SELECT m.pn, m.lid FROM lid_map m WHERE m.session = $1 AND m.pn IN {}",
                dialect::text_set(pg, 2)
            )
        };
        let rows: Vec<(String, String)> = on_pool!(self.pool(), |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql(PG))
        )
        .bind(session.as_str())
        .bind(&digits)
        .fetch_all(pool)
        .await)
        .context("Failed to look up LIDs")?;
        Ok(rows.into_iter().collect())
    }

    /// A page of the LID map, ordered by LID.
    pub(crate) async fn list_lid_map(
        &self,
        session: &SessionName,
        limit: u32,
        offset: u64,
    ) -> anyhow::Result<Vec<LidMapRow>> {
        let rows: Vec<(String, String)> = on_pool!(self.pool(), |pool| sqlx::query_as(
            "SELECT lid, pn FROM lid_map WHERE session = $1 ORDER BY lid LIMIT $2 OFFSET $3",
        )
        .bind(session.as_str())
        .bind(i64::from(limit))
        .bind(offset as i64)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(lid, pn)| LidMapRow { lid, pn })
            .collect())
    }

    /// How many LID mappings a session knows.
    pub(crate) async fn count_lid_map(&self, session: &SessionName) -> anyhow::Result<u64> {
        let n: i64 = on_pool!(self.pool(), |pool| sqlx::query_scalar(
            "SELECT count(*) FROM lid_map WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_one(pool)
        .await)?;
        Ok(n as u64)
    }

    /// The blocklist, ordered by jid, with LIDs resolved to numbers where known.
    pub(crate) async fn blocklist(&self, session: &SessionName) -> anyhow::Result<Vec<BlockRow>> {
        let rows: Vec<(String, Option<i64>, Option<String>)> =
            on_pool!(self.pool(), |pool| sqlx::query_as(
                "SELECT b.jid, b.blocked_ms, m.pn AS mapped_pn FROM blocklist b
             LEFT JOIN lid_map m ON m.session = b.session AND b.jid = m.lid || '@lid'
             WHERE b.session = $1 ORDER BY b.jid",
            )
            .bind(session.as_str())
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(jid, blocked_ms, mapped_pn)| {
                let (pn, lid) = match jid.strip_suffix(LID_SERVER) {
                    Some(lid) => (mapped_pn, Some(lid.to_owned())),
                    None => (jid.strip_suffix(PN_SERVER).map(str::to_owned), None),
                };
                BlockRow {
                    pn,
                    lid,
                    jid,
                    blocked_ms,
                }
            })
            .collect())
    }

    /// The numbers a contact had before (by its current number), oldest first.
    pub(crate) async fn number_history(
        &self,
        session: &SessionName,
        pn: &str,
    ) -> anyhow::Result<Vec<NumberChangeRow>> {
        let rows: Vec<(Option<String>, String, String, i64)> = on_pool!(self.pool(), |pool| {
            sqlx::query_as(
                "WITH RECURSIVE chain(pn) AS (
               SELECT old_pn FROM number_history WHERE session = $1 AND new_pn = $2
               UNION SELECT h.old_pn FROM number_history h, chain
               WHERE h.session = $1 AND h.new_pn = chain.pn)
             SELECT h.lid, h.old_pn, h.new_pn, h.at_ms FROM number_history h
             WHERE h.session = $1 AND (h.new_pn = $2 OR h.new_pn IN (SELECT pn FROM chain))
             ORDER BY h.at_ms",
            )
            .bind(session.as_str())
            .bind(pn)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(lid, old_pn, new_pn, at_ms)| NumberChangeRow {
                lid,
                old_pn,
                new_pn,
                at_ms,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Backend;
    use wacontacts_core::phone::{Convention, normalize};

    async fn store_with_session(
        backend: Backend,
    ) -> (crate::test_support::TestDatabase, Store, SessionName) {
        crate::test_support::store_with_session(backend, "s").await
    }

    fn pn(s: &str) -> PhoneNumber {
        normalize(s, &Convention::Waha).unwrap()
    }

    fn lid(s: &str) -> Lid {
        Lid::parse(s).unwrap()
    }

    async fn lid_row_merges_into_phone_row_when_mapping_arrives(backend: Backend) {
        let (_d, store, s) = store_with_session(backend).await;
        let l = lid("111222333@lid");
        store
            .set_push_name(&s, &ContactRef::Lid(l.clone()), "Alice Push", None)
            .await
            .unwrap();
        let p = pn("15551234567");
        store
            .apply_address_book(
                &s,
                &ContactRef::Phone(p),
                AddressBookRow {
                    phone: Some(&p),
                    full_name: Some("Alice Book"),
                    first_name: Some("Alice"),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(store.count_contacts(&s).await.unwrap(), 2);

        store.add_lid_mapping(&s, &l, &p, None).await.unwrap();
        assert_eq!(store.count_contacts(&s).await.unwrap(), 1);
        let c = store
            .get_contact(&s, &ContactRef::Lid(l.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.jid, "15551234567@s.whatsapp.net");
        assert_eq!(c.lid.as_deref(), Some("111222333"));
        assert_eq!(c.name.as_deref(), Some("Alice Book"));
        assert_eq!(c.push_name.as_deref(), Some("Alice Push"));
        assert!(c.is_my_contact);
        assert_eq!(
            store.pn_for_lid(&s, &l).await.unwrap().as_deref(),
            Some("15551234567")
        );
        let batch = store
            .lids_for_pns(&s, &[p, pn("15559990000")])
            .await
            .unwrap();
        assert_eq!(batch.len(), 1, "unknown numbers are absent: {batch:?}");
        assert_eq!(batch["15551234567"], "111222333");
    }

    async fn number_change_moves_the_row_and_keeps_history(backend: Backend) {
        let (_d, store, s) = store_with_session(backend).await;
        let (l, old, new) = (lid("999@lid"), pn("15550000001"), pn("15550000002"));
        store.add_lid_mapping(&s, &l, &old, None).await.unwrap();
        store
            .set_push_name(&s, &ContactRef::Phone(old), "Bob", None)
            .await
            .unwrap();
        store
            .record_number_change(&s, Some(&l), &old, &new, 42, None)
            .await
            .unwrap();

        let c = store
            .get_contact(&s, &ContactRef::Phone(new))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.push_name.as_deref(), Some("Bob"));
        assert_eq!(c.pn.as_deref(), Some("15550000002"));
        let by_old = store
            .get_contact(&s, &ContactRef::Phone(old))
            .await
            .unwrap()
            .expect("the old number finds the person");
        assert_eq!(
            by_old.pn.as_deref(),
            Some("15550000002"),
            "under the new number"
        );
        assert_eq!(
            store.pn_for_lid(&s, &l).await.unwrap().as_deref(),
            Some("15550000002")
        );
        assert!(store.lids_for_pns(&s, &[old]).await.unwrap().is_empty());
        let history = store.number_history(&s, "15550000002").await.unwrap();
        assert_eq!(
            history,
            vec![NumberChangeRow {
                lid: Some("999".into()),
                old_pn: "15550000001".into(),
                new_pn: "15550000002".into(),
                at_ms: 42
            }]
        );
    }

    async fn listing_is_stable_and_sorted(backend: Backend) {
        let (_d, store, s) = store_with_session(backend).await;
        for (n, name) in [
            ("15550000003", "carol"),
            ("15550000001", "Bob"),
            ("15550000002", "alice"),
        ] {
            store
                .set_push_name(&s, &ContactRef::Phone(pn(n)), name, None)
                .await
                .unwrap();
        }
        let ids = |v: Vec<StoredContact>| v.into_iter().map(|c| c.pn.unwrap()).collect::<Vec<_>>();
        let by_id = store
            .list_contacts(&s, ContactSort::Id, false, 10, 0)
            .await
            .unwrap();
        assert_eq!(ids(by_id), ["15550000001", "15550000002", "15550000003"]);
        let by_name = store
            .list_contacts(&s, ContactSort::Name, false, 10, 0)
            .await
            .unwrap();
        assert_eq!(ids(by_name), ["15550000002", "15550000001", "15550000003"]);
        let desc_page = store
            .list_contacts(&s, ContactSort::Name, true, 1, 1)
            .await
            .unwrap();
        assert_eq!(ids(desc_page), ["15550000001"]);
    }

    async fn blocklist_marks_contacts_blocked(backend: Backend) {
        let (_d, store, s) = store_with_session(backend).await;
        let p = pn("15551112222");
        store
            .set_push_name(&s, &ContactRef::Phone(p), "X", None)
            .await
            .unwrap();
        store
            .replace_blocklist(&s, &[(ContactRef::Phone(p), Some(7))], None)
            .await
            .unwrap();
        assert!(
            store
                .get_contact(&s, &ContactRef::Phone(p))
                .await
                .unwrap()
                .unwrap()
                .is_blocked
        );
        store
            .set_blocked(&s, &ContactRef::Phone(p), false, None)
            .await
            .unwrap();
        assert!(
            !store
                .get_contact(&s, &ContactRef::Phone(p))
                .await
                .unwrap()
                .unwrap()
                .is_blocked
        );
        assert!(store.blocklist(&s).await.unwrap().is_empty());
    }

    /// WhatsApp's blocklist snapshot (at each connect) tells block times in seconds; a
    /// block recorded here to the millisecond keeps its time when the snapshot tells the
    /// same second or no time, so `blockedAt` does not change across a restart.
    async fn a_snapshot_keeps_the_recorded_block_time(backend: Backend) {
        let (_d, store, s) = store_with_session(backend).await;
        let (kept, moved) = (pn("15551112222"), pn("15551113333"));
        for p in [kept, moved] {
            store
                .set_blocked(&s, &ContactRef::Phone(p), true, None)
                .await
                .unwrap();
        }
        let before = store.blocklist(&s).await.unwrap();
        let at = before[0].blocked_ms.unwrap();
        store
            .replace_blocklist(
                &s,
                &[
                    (ContactRef::Phone(kept), Some(at / 1000 * 1000)),
                    (ContactRef::Phone(moved), Some(at / 1000 * 1000 - 60_000)),
                ],
                None,
            )
            .await
            .unwrap();
        let after = store.blocklist(&s).await.unwrap();
        assert_eq!(after[0].jid, before[0].jid);
        assert_eq!(after[0].blocked_ms, Some(at), "same second: kept");
        assert_eq!(after[1].blocked_ms, Some(at / 1000 * 1000 - 60_000));
        store
            .replace_blocklist(&s, &[(ContactRef::Phone(kept), None)], None)
            .await
            .unwrap();
        let after = store.blocklist(&s).await.unwrap();
        assert_eq!(after.len(), 1, "the snapshot is the whole list");
        assert_eq!(after[0].blocked_ms, Some(at), "no time told: kept");
    }

    async fn deleting_the_session_deletes_its_contacts(backend: Backend) {
        let (_d, store, s) = store_with_session(backend).await;
        store
            .set_push_name(&s, &ContactRef::Phone(pn("15551112222")), "X", None)
            .await
            .unwrap();
        store.delete_session(&s).await.unwrap();
        assert_eq!(store.count_contacts(&s).await.unwrap(), 0);
    }

    both_backends!(
        lid_row_merges_into_phone_row_when_mapping_arrives,
        number_change_moves_the_row_and_keeps_history,
        listing_is_stable_and_sorted,
        blocklist_marks_contacts_blocked,
        a_snapshot_keeps_the_recorded_block_time,
        deleting_the_session_deletes_its_contacts,
    );
}
