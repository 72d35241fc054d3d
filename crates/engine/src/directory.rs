//! [`Directory`] on whatsapp-rust: every call goes to the session's current client,
//! is bounded by the engine's call timeout, and maps the library's errors onto
//! [`DirectoryError`]. It has no side effects on our data: the contact service
//! writes back what a call answers. (LID mappings a usync answer carries are fed
//! to the client's own cache, so that its later calls, blocks above all, find them.)

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use wacontacts_core::contact::{BlockEntry, ExistenceResult, ProfilePicture, UserInfo};
use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use wacontacts_core::ports::{Directory, DirectoryError};
use wacontacts_core::username::{Username, UsernameQuery};
use whatsapp_rust::lid_pn_cache::{LearningSource, LidPnEntry};
use whatsapp_rust::wacore::iq::usync::{
    UsyncAddressingMode, UsyncContext, UsyncMode, UsyncOutcome, UsyncProtocol, UsyncProtocolKind,
    UsyncProtocolResult, UsyncQuery, UsyncQuerySpec, UsyncResponse, UsyncUser, UsyncUserResult,
};
use whatsapp_rust::{
    AppStateError, BlockingError, Client, ContactError, IqError, Jid, UsyncSubprotocolError,
};

use crate::convert;
use crate::session::Session;

/// The directory of one session.
pub(crate) struct SessionDirectory {
    pub(crate) session: Arc<Session>,
    pub(crate) timeout: Duration,
}

/// Maps an IQ failure.
pub(crate) fn iq_error(e: &IqError) -> DirectoryError {
    match e {
        IqError::Timeout => DirectoryError::Timeout,
        IqError::NotConnected | IqError::Disconnected(_) | IqError::InternalChannelClosed => {
            DirectoryError::NotConnected
        }
        IqError::ServerError { code, backoff, .. } => match code {
            429 => DirectoryError::RateLimited {
                retry_after_secs: *backoff,
            },
            404 => DirectoryError::NotFound,
            401 | 403 => DirectoryError::HiddenByPrivacy,
            _ => DirectoryError::Other(e.to_string()),
        },
        IqError::ClientState(_) => DirectoryError::NotConnected,
        _ => DirectoryError::Other(e.to_string()),
    }
}

fn subprotocol_error(e: &UsyncSubprotocolError) -> Option<DirectoryError> {
    match e.code {
        Some(429) => Some(DirectoryError::RateLimited {
            retry_after_secs: e.backoff,
        }),
        _ => None,
    }
}

fn contact_error(e: ContactError) -> DirectoryError {
    match e {
        ContactError::Iq(e) => iq_error(&e),
        other => DirectoryError::Other(other.to_string()),
    }
}

fn blocking_error(e: BlockingError) -> DirectoryError {
    match e {
        BlockingError::Iq(e) => iq_error(&e),
        BlockingError::InvalidJid(_) => DirectoryError::NotFound,
        other => DirectoryError::Other(other.to_string()),
    }
}

/// The business's verified name a usync answer carries, when not empty.
fn verified_name_of(user: &UsyncUserResult) -> Option<String> {
    match user.protocol(UsyncProtocolKind::Business) {
        Some(UsyncProtocolResult::Business(UsyncOutcome::Value(b))) => b
            .verified_name
            .as_ref()
            .and_then(|v| v.name.clone())
            .filter(|n| !n.is_empty()),
        _ => None,
    }
}

/// The username a usync answer's `username` protocol carries, when well-formed.
fn username_of(user: &UsyncUserResult) -> Option<Username> {
    match user.protocol(UsyncProtocolKind::Username) {
        Some(UsyncProtocolResult::Username(UsyncOutcome::Value(Some(u)))) => {
            Username::parse(u).ok()
        }
        _ => None,
    }
}

/// A fresh usync `sid` (only needs to be unique among our requests).
fn next_sid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = wacontacts_core::ports::unix_now_ms();
    format!("wac{t}.{n}")
}

impl SessionDirectory {
    /// The client, when logged in.
    fn client(&self) -> Result<Arc<Client>, DirectoryError> {
        match self.session.client() {
            Some(client) if client.is_logged_in() => Ok(client),
            _ => Err(DirectoryError::NotConnected),
        }
    }

    async fn timed<T, F>(&self, fut: F) -> Result<T, DirectoryError>
    where
        F: std::future::Future<Output = Result<T, DirectoryError>>,
    {
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or(Err(DirectoryError::Timeout))
    }

    /// The client's LID↔phone entry for `jid` (either side), within the call timeout.
    async fn lid_pn_entry(&self, jid: &Jid) -> Result<Option<LidPnEntry>, DirectoryError> {
        let client = self.session.client().ok_or(DirectoryError::NotConnected)?;
        self.timed(async {
            client
                .get_lid_pn_entry(jid)
                .await
                .map_err(|e| DirectoryError::Other(e.to_string()))
        })
        .await
    }

    /// One usync query with the `contact` protocol; WhatsApp's 429 on that protocol
    /// is the whole query's.
    async fn contact_query(
        &self,
        client: &Client,
        protocols: Vec<UsyncProtocol>,
        users: Vec<UsyncUser>,
    ) -> Result<UsyncResponse, DirectoryError> {
        let query = UsyncQuery::new(
            UsyncMode::Query,
            UsyncContext::Interactive,
            protocols,
            users,
        )
        .map_err(|e| DirectoryError::Other(e.to_string()))?;
        let spec = UsyncQuerySpec::new(query, next_sid())
            .map_err(|e| DirectoryError::Other(e.to_string()))?;
        let response = self
            .timed(async { client.execute(spec).await.map_err(|e| iq_error(&e)) })
            .await?;
        if let Some(err) = response
            .protocol_state(UsyncProtocolKind::Contact)
            .and_then(|s| s.error.as_ref())
            .and_then(subprotocol_error)
        {
            return Err(err);
        }
        Ok(response)
    }

    /// Feeds a mapping a usync answer carried to the client's cache (whatsmeow
    /// and whatsapp-rust do the same), so its blocks find it.
    async fn learned(&self, client: &Client, lid: &Jid, pn: &Jid) {
        if !(lid.is_lid() && pn.is_pn()) {
            return;
        }
        if let Err(e) = client
            .add_lid_pn_mapping(&lid.user, &pn.user, LearningSource::Usync)
            .await
        {
            tracing::debug!(error = %e, "the client did not keep a learned LID mapping");
        }
    }
}

#[async_trait]
impl Directory for SessionDirectory {
    async fn is_on_whatsapp(
        &self,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<PhoneNumber, ExistenceResult>, DirectoryError> {
        let mut answer: HashMap<PhoneNumber, ExistenceResult> = phones
            .iter()
            .map(|p| (*p, ExistenceResult::not_found()))
            .collect();
        if phones.is_empty() {
            return Ok(answer);
        }
        let client = self.client()?;
        let users: Vec<UsyncUser> = phones
            .iter()
            .map(|p| UsyncUser::from_phone(format!("+{}", convert::digits(p))))
            .collect();
        let protocols = vec![
            UsyncProtocol::Contact {
                addressing_mode: UsyncAddressingMode::Pn,
            },
            UsyncProtocol::Lid,
            UsyncProtocol::Username,
            UsyncProtocol::BusinessVerifiedName,
        ];
        let response = self.contact_query(&client, protocols, users).await?;
        let by_digits: HashMap<String, &PhoneNumber> = phones
            .iter()
            .map(|p| (convert::digits(p).to_string(), p))
            .collect();
        for user in &response.users {
            let contact = match user.protocol(UsyncProtocolKind::Contact) {
                Some(UsyncProtocolResult::Contact(UsyncOutcome::Value(c))) => Some(c),
                _ => None,
            };
            // The queried number, echoed back; else the JID's own number.
            let asked = contact
                .and_then(|c| c.content.as_ref())
                .map(|c| c.trim_start_matches('+').to_string())
                .or_else(|| user.id.as_ref().map(|j| j.user.to_string()));
            let Some(input) = asked.as_deref().and_then(|d| by_digits.get(d)) else {
                continue;
            };
            let exists = contact.is_some_and(|c| c.contact_type == "in");
            let jid = user.id.clone().filter(|j| j.is_pn());
            let lid = match user.protocol(UsyncProtocolKind::Lid) {
                Some(UsyncProtocolResult::Lid(UsyncOutcome::Value(Some(lid)))) => Some(lid.clone()),
                _ => None,
            };
            let verified_name = verified_name_of(user);
            let is_business = matches!(
                user.protocol(UsyncProtocolKind::Business),
                Some(UsyncProtocolResult::Business(UsyncOutcome::Value(_)))
            ) && verified_name.is_some();
            if exists && let (Some(jid), Some(lid)) = (&jid, &lid) {
                self.learned(&client, lid, jid).await;
            }
            answer.insert(
                **input,
                ExistenceResult {
                    exists,
                    phone: if exists {
                        jid.as_ref().and_then(convert::phone)
                    } else {
                        None
                    },
                    lid: if exists {
                        lid.as_ref().and_then(convert::lid)
                    } else {
                        None
                    },
                    is_business: exists && is_business,
                    verified_name: if exists { verified_name } else { None },
                    username: username_of(user).filter(|_| exists),
                },
            );
        }
        Ok(answer)
    }

    async fn find_usernames(
        &self,
        asked: &[UsernameQuery],
    ) -> Result<HashMap<UsernameQuery, ExistenceResult>, DirectoryError> {
        let mut answer: HashMap<UsernameQuery, ExistenceResult> = asked
            .iter()
            .map(|q| (q.clone(), ExistenceResult::not_found()))
            .collect();
        if asked.is_empty() {
            return Ok(answer);
        }
        let client = self.client()?;
        let users: Vec<UsyncUser> = asked
            .iter()
            .map(|q| {
                let user = UsyncUser::from_username(q.username.as_str());
                match &q.pin {
                    Some(pin) => user.with_username_pin(pin.as_str()),
                    None => user,
                }
            })
            .collect();
        // Usernames map to LIDs: ask in LID addressing, with the `lid` protocol for
        // the LID and the `username` protocol for the handle as WhatsApp spells it.
        let protocols = vec![
            UsyncProtocol::Contact {
                addressing_mode: UsyncAddressingMode::Lid,
            },
            UsyncProtocol::Lid,
            UsyncProtocol::Username,
            UsyncProtocol::BusinessVerifiedName,
        ];
        let response = self.contact_query(&client, protocols, users).await?;
        let by_name: HashMap<&str, Vec<&UsernameQuery>> =
            asked.iter().fold(HashMap::new(), |mut m, q| {
                m.entry(q.username.as_str()).or_default().push(q);
                m
            });
        for (index, user) in response.users.iter().enumerate() {
            let contact = match user.protocol(UsyncProtocolKind::Contact) {
                Some(UsyncProtocolResult::Contact(UsyncOutcome::Value(c))) => Some(c),
                _ => None,
            };
            // The user at the same position, unless the username echoed back says
            // otherwise (then every input with that username: the same username asked
            // with two PINs in one query is told apart by position only).
            let echoed = contact
                .and_then(|c| c.username.as_deref())
                .map(|u| u.to_ascii_lowercase());
            let inputs: Vec<&UsernameQuery> = match (asked.get(index), echoed.as_deref()) {
                (Some(q), None) => vec![q],
                (Some(q), Some(u)) if q.username.as_str() == u => vec![q],
                (_, Some(u)) => by_name.get(u).cloned().unwrap_or_default(),
                (None, None) => Vec::new(),
            };
            if inputs.is_empty() {
                continue;
            }
            let exists = contact.is_some_and(|c| c.contact_type == "in");
            let lid = user.id.clone().filter(|j| j.is_lid()).or_else(|| {
                match user.protocol(UsyncProtocolKind::Lid) {
                    Some(UsyncProtocolResult::Lid(UsyncOutcome::Value(Some(lid)))) => {
                        Some(lid.clone())
                    }
                    _ => None,
                }
            });
            let pn = user
                .pn_jid
                .clone()
                .or_else(|| user.id.clone())
                .filter(|j| j.is_pn());
            let told = username_of(user);
            let verified_name = verified_name_of(user);
            if exists && let (Some(pn), Some(lid)) = (&pn, &lid) {
                self.learned(&client, lid, pn).await;
            }
            for input in inputs {
                let found = exists && lid.is_some();
                answer.insert(
                    input.clone(),
                    ExistenceResult {
                        exists: found,
                        phone: pn.as_ref().filter(|_| found).and_then(convert::phone),
                        lid: lid.as_ref().filter(|_| found).and_then(convert::lid),
                        is_business: found && verified_name.is_some(),
                        verified_name: verified_name.clone().filter(|_| found),
                        username: if found {
                            told.clone().or_else(|| Some(input.username.clone()))
                        } else {
                            None
                        },
                    },
                );
            }
        }
        Ok(answer)
    }

    async fn user_info(
        &self,
        who: &[ContactRef],
    ) -> Result<HashMap<ContactRef, UserInfo>, DirectoryError> {
        if who.is_empty() {
            return Ok(HashMap::new());
        }
        let client = self.client()?;
        let jids: Vec<Jid> = who.iter().map(convert::jid).collect();
        let info = self
            .timed(async {
                client
                    .contacts()
                    .get_user_info(&jids)
                    .await
                    .map_err(contact_error)
            })
            .await?;
        let mut out = HashMap::new();
        for (contact, jid) in who.iter().zip(&jids) {
            let Some(entry) = info
                .get(jid)
                .or_else(|| info.values().find(|e| e.jid.user == jid.user))
            else {
                continue;
            };
            if let Some(lid) = &entry.lid {
                self.learned(&client, lid, &entry.jid).await;
            }
            out.insert(
                contact.clone(),
                UserInfo {
                    lid: entry
                        .lid
                        .as_ref()
                        .or(Some(&entry.jid).filter(|j| j.is_lid()))
                        .and_then(convert::lid),
                    about: entry.status.clone().filter(|s| !s.is_empty()),
                    picture_id: entry.picture_id.clone(),
                    is_business: entry.is_business,
                    verified_name: entry
                        .verified_name
                        .as_ref()
                        .and_then(|v| v.name.clone())
                        .filter(|n| !n.is_empty()),
                    devices: entry.devices.clone(),
                },
            );
        }
        Ok(out)
    }

    async fn profile_picture(
        &self,
        who: &ContactRef,
        preview: bool,
    ) -> Result<Option<ProfilePicture>, DirectoryError> {
        let client = self.client()?;
        let jid = convert::jid(who);
        let picture = self
            .timed(async {
                client
                    .contacts()
                    .get_profile_picture_with_timeout(&jid, preview, Some(self.timeout))
                    .await
                    .map_err(contact_error)
            })
            .await?;
        Ok(picture.map(|p| ProfilePicture {
            id: p.id,
            url: p.url,
            direct_path: p.direct_path,
        }))
    }

    async fn block(&self, lid: &Lid, phone: Option<&PhoneNumber>) -> Result<(), DirectoryError> {
        let client = self.client()?;
        let lid_jid = convert::lid_jid(lid);
        if let Some(phone) = phone {
            // The library resolves the pair from its cache: give it ours.
            self.learned(&client, &lid_jid, &convert::phone_jid(phone))
                .await;
        }
        self.timed(async {
            client
                .blocking()
                .block(&lid_jid)
                .await
                .map_err(blocking_error)
        })
        .await
    }

    async fn unblock(&self, lid: &Lid) -> Result<(), DirectoryError> {
        let client = self.client()?;
        let lid_jid = convert::lid_jid(lid);
        self.timed(async {
            client
                .blocking()
                .unblock(&lid_jid)
                .await
                .map_err(blocking_error)
        })
        .await
    }

    async fn blocklist(&self) -> Result<Vec<BlockEntry>, DirectoryError> {
        let client = self.client()?;
        let entries = self
            .timed(async {
                client
                    .blocking()
                    .get_blocklist()
                    .await
                    .map_err(blocking_error)
            })
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                Some(BlockEntry {
                    who: convert::contact_ref(&e.jid)?,
                    blocked_at: e.timestamp.map(|t| t as i64),
                })
            })
            .collect())
    }

    async fn save_contact(
        &self,
        phone: &PhoneNumber,
        full_name: &str,
        first_name: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let client = self.client()?;
        let jid = convert::phone_jid(phone);
        self.timed(async {
            client
                .chat_actions()
                .save_contact(
                    &jid,
                    Some(full_name.to_string()),
                    first_name.map(str::to_string),
                    true,
                )
                .await
                .map_err(|e| match e {
                    AppStateError::InvalidRequest(m) => DirectoryError::Other(m),
                    other => DirectoryError::Other(other.to_string()),
                })
        })
        .await
    }

    async fn known_lids(
        &self,
        phones: &[PhoneNumber],
    ) -> Result<HashMap<PhoneNumber, Lid>, DirectoryError> {
        let mut out = HashMap::new();
        for phone in phones {
            let entry = self.lid_pn_entry(&convert::phone_jid(phone)).await?;
            if let Some(lid) = entry.and_then(|e| convert::lid(&Jid::lid(&*e.lid))) {
                out.insert(*phone, lid);
            }
        }
        Ok(out)
    }

    async fn known_phone(&self, lid: &Lid) -> Result<Option<PhoneNumber>, DirectoryError> {
        let entry = self.lid_pn_entry(&convert::lid_jid(lid)).await?;
        Ok(entry.and_then(|e| convert::phone(&Jid::pn(&*e.phone_number))))
    }
}
