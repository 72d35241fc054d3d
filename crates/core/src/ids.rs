//! Jid, Lid, PhoneNumber, ContactRef: parsed at the edge, `Display` round-trips.
//!
//! * [`Jid`]: a WhatsApp id `user[.agent][:device]@server` on one of the servers in
//!   [`Server`] (`s.whatsapp.net`, WAHA's alias `c.us`, `lid`, `g.us`, `broadcast`,
//!   `newsletter`, `hosted`, `hosted.lid`, `bot`).
//! * [`Lid`]: a person's `…@lid` id (device dropped).
//! * [`PhoneNumber`]: E.164, see [`crate::phone`].
//! * [`ContactRef`]: what a user may pass to name a person: `15551234567`,
//!   `+1 (555) 123-4567`, `15551234567@c.us`, `15551234567@s.whatsapp.net`,
//!   `15551234567:7@s.whatsapp.net`, `123456789012345@lid`, with `%40` for `@`.
//!
//! Every parser keeps the offending input in its error and gives a stable
//! machine-readable [`IdError::code`]. Nothing here panics on any input.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::phone::PhoneNumber;
use crate::phone::{self, Convention, PhoneError, truncate_input};

/// Longest id (bytes, trimmed) looked at.
const MAX_JID_BYTES: usize = 256;

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// Why an input is not the id that was needed. Every variant keeps the offending
/// input (truncated to 200 chars); [`IdError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty or blank input. Code `empty`.
    #[error("the input is empty")]
    Empty {
        /// The input as given.
        input: String,
    },
    /// Not a well-formed WhatsApp id. Code `invalid_jid`.
    #[error("{input:?} is not a WhatsApp id: {reason}")]
    InvalidJid {
        /// The input as given.
        input: String,
        /// Human-readable reason.
        reason: String,
    },
    /// The part after `@` is not a WhatsApp server we know. Code `unknown_server`.
    #[error("{input:?} has an unknown WhatsApp server {server:?}")]
    UnknownServer {
        /// The input as given.
        input: String,
        /// The server part.
        server: String,
    },
    /// A group, broadcast, newsletter or bot id where a person is needed. Code
    /// `group_not_allowed`, `broadcast_not_allowed`, `newsletter_not_allowed` or
    /// `not_a_person`.
    #[error("{input:?} is a {} id, not a person", server.describe())]
    NotAPerson {
        /// The input as given.
        input: String,
        /// Its server.
        server: Server,
    },
    /// Not a `…@lid` id. Code `invalid_lid`.
    #[error("{input:?} is not a LID (digits@lid): {reason}")]
    InvalidLid {
        /// The input as given.
        input: String,
        /// Human-readable reason.
        reason: String,
    },
    /// A phone number that does not parse; the code is the phone error's.
    #[error(transparent)]
    Phone(#[from] PhoneError),
}

impl IdError {
    /// Stable machine-readable code: `empty`, `invalid_jid`, `unknown_server`,
    /// `group_not_allowed`, `broadcast_not_allowed`, `newsletter_not_allowed`,
    /// `not_a_person`, `invalid_lid`, or a [`PhoneError::code`].
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Empty { .. } => "empty",
            IdError::InvalidJid { .. } => "invalid_jid",
            IdError::UnknownServer { .. } => "unknown_server",
            IdError::NotAPerson { server, .. } => match server {
                Server::Group => "group_not_allowed",
                Server::Broadcast => "broadcast_not_allowed",
                Server::Newsletter => "newsletter_not_allowed",
                _ => "not_a_person",
            },
            IdError::InvalidLid { .. } => "invalid_lid",
            IdError::Phone(e) => e.code(),
        }
    }

    /// The offending input (truncated to 200 chars).
    pub fn input(&self) -> &str {
        match self {
            IdError::Empty { input }
            | IdError::InvalidJid { input, .. }
            | IdError::UnknownServer { input, .. }
            | IdError::NotAPerson { input, .. }
            | IdError::InvalidLid { input, .. } => input,
            IdError::Phone(e) => e.input(),
        }
    }

    fn invalid(input: &str, reason: impl Into<String>) -> Self {
        IdError::InvalidJid {
            input: truncate_input(input),
            reason: reason.into(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------

/// The part after `@` in a WhatsApp id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// `s.whatsapp.net`: people by phone number (the engine's spelling).
    Pn,
    /// `c.us`: WAHA's (and WhatsApp Web's legacy) alias of `s.whatsapp.net`.
    CUs,
    /// `lid`: people by their privacy id.
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: phone numbers hosted by Meta's Cloud API.
    Hosted,
    /// `hosted.lid`: LIDs of hosted accounts.
    HostedLid,
    /// `bot`: Meta AI and other bots.
    Bot,
}

impl Server {
    /// All servers.
    pub const ALL: [Server; 9] = [
        Server::Pn,
        Server::CUs,
        Server::Lid,
        Server::Group,
        Server::Broadcast,
        Server::Newsletter,
        Server::Hosted,
        Server::HostedLid,
        Server::Bot,
    ];

    /// The server as written after `@`.
    pub fn as_str(self) -> &'static str {
        match self {
            Server::Pn => "s.whatsapp.net",
            Server::CUs => "c.us",
            Server::Lid => "lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Bot => "bot",
        }
    }

    /// Case-insensitive lookup; `None` for an unknown server.
    pub fn parse(s: &str) -> Option<Server> {
        Server::ALL
            .into_iter()
            .find(|srv| srv.as_str().eq_ignore_ascii_case(s))
    }

    /// Users are phone numbers: `s.whatsapp.net`, `c.us`, `hosted`.
    pub fn is_phone_family(self) -> bool {
        matches!(self, Server::Pn | Server::CUs | Server::Hosted)
    }

    /// Users are LIDs: `lid`, `hosted.lid`.
    pub fn is_lid_family(self) -> bool {
        matches!(self, Server::Lid | Server::HostedLid)
    }

    /// Ids on this server name a person.
    pub fn is_person(self) -> bool {
        self.is_phone_family() || self.is_lid_family()
    }

    fn describe(self) -> &'static str {
        match self {
            Server::Group => "group",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter (channel)",
            Server::Bot => "bot",
            _ => "person",
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------
// Jid
// ---------------------------------------------------------------------------------

/// A WhatsApp id: `user@server`, optionally with a device (`user:7@server`) and an
/// agent (`user.1:7@server`; `user_1:7@server` is read the same way).
///
/// Parsing (`Jid::parse`, `FromStr`, `Deserialize`):
/// * surrounding whitespace is ignored; `%40`, `%3A` and `%2B` are read as `@`, `:`
///   and `+`; the server is case-insensitive;
/// * users of phone servers (`s.whatsapp.net`, `c.us`, `hosted`) are 1-20 digits (a
///   leading `+` is dropped); `lid`, `hosted.lid`, `newsletter`, `bot` users are 1-24
///   digits; group users are digits with at most one `-` (`1234567890-123456`);
///   broadcast users are letters and digits (`status`);
/// * agent is 0-255, device 0-65535, both decimal.
///
/// `Display` gives `user@server`, `user:device@server` or `user.agent:device@server`
/// (the spelling of the server is kept: `c.us` stays `c.us`), and parses back to the
/// same value.
///
/// Equality is by spelling: `1@c.us` and `1@s.whatsapp.net` differ; compare
/// [`Jid::to_engine`] forms (or [`ContactRef`]s) to ignore WAHA's alias.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    user: String,
    server: Server,
    agent: u8,
    device: u16,
}

impl Jid {
    /// Parses a WhatsApp id (see the type docs).
    pub fn parse(input: &str) -> Result<Jid, IdError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IdError::Empty {
                input: input.to_owned(),
            });
        }
        if trimmed.len() > MAX_JID_BYTES {
            return Err(IdError::invalid(input, "too long"));
        }
        let decoded = decode_escapes(trimmed);
        let Some((user_part, server_str)) = decoded.split_once('@') else {
            return Err(IdError::invalid(input, "missing '@server'"));
        };
        if server_str.contains('@') {
            return Err(IdError::invalid(input, "more than one '@'"));
        }
        let Some(server) = Server::parse(server_str) else {
            return Err(IdError::UnknownServer {
                input: truncate_input(input),
                server: truncate_input(server_str),
            });
        };
        let (user_agent, device) = match user_part.split_once(':') {
            Some((ua, d)) => (ua, parse_decimal(d).and_then(|v| u16::try_from(v).ok())),
            None => (user_part, Some(0)),
        };
        let Some(device) = device else {
            return Err(IdError::invalid(
                input,
                "the device after ':' must be a number 0-65535",
            ));
        };
        let (user, agent) = match user_agent.find(['.', '_']) {
            Some(i) => (
                &user_agent[..i],
                parse_decimal(&user_agent[i + 1..]).and_then(|v| u8::try_from(v).ok()),
            ),
            None => (user_agent, Some(0)),
        };
        let Some(agent) = agent else {
            return Err(IdError::invalid(
                input,
                "the agent after '.' must be a number 0-255",
            ));
        };
        let user = if server.is_phone_family() {
            user.strip_prefix('+').unwrap_or(user)
        } else {
            user
        };
        validate_user(user, server).map_err(|reason| IdError::invalid(input, reason))?;
        Ok(Jid {
            user: user.to_owned(),
            server,
            agent,
            device,
        })
    }

    /// `user@server` from parts, checked like [`Jid::parse`].
    pub fn new(user: &str, server: Server) -> Result<Jid, IdError> {
        let shown = format!("{user}@{server}");
        validate_user(user, server).map_err(|reason| IdError::invalid(&shown, reason))?;
        Ok(Jid {
            user: user.to_owned(),
            server,
            agent: 0,
            device: 0,
        })
    }

    /// `<digits>@s.whatsapp.net`.
    pub fn from_phone(phone: &PhoneNumber) -> Jid {
        Jid {
            user: phone.wa_id(),
            server: Server::Pn,
            agent: 0,
            device: 0,
        }
    }

    pub(crate) fn from_phone_c_us(phone: &PhoneNumber) -> Jid {
        Jid {
            user: phone.wa_id(),
            server: Server::CUs,
            agent: 0,
            device: 0,
        }
    }

    /// `<digits>@lid`.
    pub fn from_lid(lid: &Lid) -> Jid {
        Jid {
            user: lid.user.clone(),
            server: Server::Lid,
            agent: 0,
            device: 0,
        }
    }

    /// The same id on another device.
    pub fn with_device(mut self, device: u16) -> Jid {
        self.device = device;
        self
    }

    /// The part before `@` (without agent and device).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The server.
    pub fn server(&self) -> Server {
        self.server
    }

    /// The agent (0 when absent).
    pub fn agent(&self) -> u8 {
        self.agent
    }

    /// The device (0 = the main device, also when absent).
    pub fn device(&self) -> u16 {
        self.device
    }

    /// A person by phone number (`s.whatsapp.net`, `c.us`, `hosted`).
    pub fn is_phone(&self) -> bool {
        self.server.is_phone_family()
    }

    /// A person by LID (`lid`, `hosted.lid`).
    pub fn is_lid(&self) -> bool {
        self.server.is_lid_family()
    }

    /// A group (`g.us`).
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// A broadcast list or `status@broadcast`.
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }

    /// A channel (`newsletter`).
    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }

    /// Agent and device dropped: the account, not one of its devices.
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            server: self.server,
            agent: 0,
            device: 0,
        }
    }

    /// WAHA's chat id: agent and device dropped, `s.whatsapp.net` spelled `c.us`
    /// (`15551234567:7@s.whatsapp.net` → `15551234567@c.us`); other servers keep theirs.
    pub fn to_waha(&self) -> Jid {
        let server = if self.server == Server::Pn {
            Server::CUs
        } else {
            self.server
        };
        Jid {
            user: self.user.clone(),
            server,
            agent: 0,
            device: 0,
        }
    }

    /// The engine's (and Whinself's) spelling: `c.us` becomes `s.whatsapp.net`;
    /// agent and device are kept.
    pub fn to_engine(&self) -> Jid {
        let server = if self.server == Server::CUs {
            Server::Pn
        } else {
            self.server
        };
        Jid {
            user: self.user.clone(),
            server,
            agent: self.agent,
            device: self.device,
        }
    }

    /// The digits of a phone id (`s.whatsapp.net`, `c.us`, `hosted`): the
    /// On-Premises `wa_id`. `None` on other servers.
    pub fn wa_id(&self) -> Option<&str> {
        self.is_phone().then_some(self.user.as_str())
    }
}

fn validate_user(user: &str, server: Server) -> Result<(), &'static str> {
    if user.is_empty() {
        return Err("the user part before '@' is empty");
    }
    let digits = |max: usize| user.len() <= max && user.bytes().all(|b| b.is_ascii_digit());
    let ok = match server {
        Server::Pn | Server::CUs | Server::Hosted => digits(20),
        Server::Lid | Server::HostedLid | Server::Newsletter | Server::Bot => digits(24),
        Server::Group => {
            user.len() <= 40
                && !user.starts_with('-')
                && !user.ends_with('-')
                && user.bytes().filter(|&b| b == b'-').count() <= 1
                && user.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        }
        Server::Broadcast => user.len() <= 40 && user.bytes().all(|b| b.is_ascii_alphanumeric()),
    };
    if ok {
        Ok(())
    } else {
        Err(match server {
            Server::Group => "a group id is digits with at most one '-'",
            Server::Broadcast => "a broadcast id is letters and digits",
            _ => "the user part must be digits",
        })
    }
}

/// Decimal digits only (no sign), at most 5 of them.
fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `%40` → `@`, `%3A` → `:`, `%2B` → `+` (case-insensitive); other text unchanged.
fn decode_escapes(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i + 1..i + 3);
        let decoded = match esc {
            Some("40") => Some('@'),
            Some("3A" | "3a") => Some(':'),
            Some("2B" | "2b") => Some('+'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.agent > 0 {
            write!(
                f,
                "{}.{}:{}@{}",
                self.user, self.agent, self.device, self.server
            )
        } else if self.device > 0 {
            write!(f, "{}:{}@{}", self.user, self.device, self.server)
        } else {
            write!(f, "{}@{}", self.user, self.server)
        }
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jid({self})")
    }
}

impl FromStr for Jid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jid::parse(s)
    }
}

// ---------------------------------------------------------------------------------
// Lid
// ---------------------------------------------------------------------------------

/// A person's LID, `<digits>@lid` (WhatsApp's privacy id). Parsing accepts
/// `123456789012345@lid`, a device (`123456789012345:3@lid`, dropped) and `%40`;
/// `Display` gives `123456789012345@lid`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lid {
    user: String,
}

impl Lid {
    /// Parses `<digits>@lid`.
    pub fn parse(input: &str) -> Result<Lid, IdError> {
        let jid = Jid::parse(input).map_err(|e| match e {
            IdError::Empty { .. } => e,
            other => IdError::InvalidLid {
                input: truncate_input(input),
                reason: other.to_string(),
            },
        })?;
        Lid::from_jid(&jid).map_err(|_| IdError::InvalidLid {
            input: truncate_input(input),
            reason: "the server must be lid".into(),
        })
    }

    /// The LID whose user part is `user` (1-24 digits), e.g. from an engine JID.
    pub fn new(user: &str) -> Result<Lid, IdError> {
        validate_user(user, Server::Lid).map_err(|reason| IdError::InvalidLid {
            input: truncate_input(user),
            reason: reason.into(),
        })?;
        Ok(Lid {
            user: user.to_owned(),
        })
    }

    /// The LID of a `…@lid` or `…@hosted.lid` id (device dropped).
    pub fn from_jid(jid: &Jid) -> Result<Lid, IdError> {
        if jid.is_lid() {
            Ok(Lid {
                user: jid.user.clone(),
            })
        } else {
            Err(IdError::InvalidLid {
                input: jid.to_string(),
                reason: "the server must be lid".into(),
            })
        }
    }

    /// The digits before `@lid`.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// `<digits>@lid` as a [`Jid`].
    pub fn to_jid(&self) -> Jid {
        Jid::from_lid(self)
    }
}

impl fmt::Display for Lid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@lid", self.user)
    }
}

impl fmt::Debug for Lid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lid({self})")
    }
}

impl FromStr for Lid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lid::parse(s)
    }
}

// ---------------------------------------------------------------------------------
// ContactRef
// ---------------------------------------------------------------------------------

/// What a user may pass to name a person: a phone number or a LID.
///
/// Accepted by [`ContactRef::parse`]:
/// * a phone number in any form [`phone::normalize`] accepts under the given
///   [`Convention`] (`15551234567`, `+1 (555) 123-4567`, ...);
/// * a phone id `15551234567@c.us`, `15551234567@s.whatsapp.net`, `…@hosted`, with or
///   without device/agent (`15551234567:7@s.whatsapp.net`; dropped), whose digits
///   always carry the country code whatever the convention; a formatted user part
///   (`+55 (11) 98888-7777@c.us`) is accepted too;
/// * a LID `123456789012345@lid` (or `@hosted.lid`), device dropped;
/// * `%40` for `@` anywhere.
///
/// Group, broadcast, newsletter and bot ids are errors (`group_not_allowed`, ...)
/// naming the input.
///
/// `Display` gives `+<E.164>` or `<digits>@lid`; `FromStr` parses with
/// [`Convention::Waha`], so it round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactRef {
    /// A person by phone number.
    Phone(PhoneNumber),
    /// A person by LID.
    Lid(Lid),
}

impl ContactRef {
    /// Parses a person reference (see the type docs).
    ///
    /// ```
    /// use wacontacts_core::ids::ContactRef;
    /// use wacontacts_core::phone::Convention;
    /// let r = ContactRef::parse("15551234567:7%40s.whatsapp.net", &Convention::Waha).unwrap();
    /// assert_eq!(r.to_string(), "+15551234567");
    /// let e = ContactRef::parse("123-456@g.us", &Convention::Waha).unwrap_err();
    /// assert_eq!(e.code(), "group_not_allowed");
    /// ```
    pub fn parse(input: &str, convention: &Convention) -> Result<ContactRef, IdError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IdError::Empty {
                input: input.to_owned(),
            });
        }
        if trimmed.len() > MAX_JID_BYTES {
            return Err(PhoneError::TooLong {
                input: truncate_input(input),
            }
            .into());
        }
        let decoded = decode_escapes(trimmed);
        let Some((user, server)) = decoded.split_once('@') else {
            return phone::normalize(trimmed, convention)
                .map(ContactRef::Phone)
                .map_err(IdError::Phone);
        };
        match Jid::parse(&decoded) {
            Ok(jid) => Self::from_jid_named(&jid, input),
            Err(e) => match Server::parse(server) {
                // A formatted phone number in front of a phone server:
                // "+55 (11) 98888-7777:22@c.us".
                Some(s) if s.is_phone_family() && !server.contains('@') => {
                    let number = user.split(':').next().unwrap_or(user);
                    phone::normalize(number, &Convention::Waha)
                        .map(ContactRef::Phone)
                        .map_err(|pe| IdError::Phone(pe.with_input(input)))
                }
                _ => Err(e),
            },
        }
    }

    /// The person a [`Jid`] names.
    pub fn from_jid(jid: &Jid) -> Result<ContactRef, IdError> {
        Self::from_jid_named(jid, &jid.to_string())
    }

    fn from_jid_named(jid: &Jid, input: &str) -> Result<ContactRef, IdError> {
        if jid.is_lid() {
            Ok(ContactRef::Lid(Lid {
                user: jid.user.clone(),
            }))
        } else if jid.is_phone() {
            phone::normalize(&jid.user, &Convention::Waha)
                .map(ContactRef::Phone)
                .map_err(|pe| IdError::Phone(pe.with_input(input)))
        } else {
            Err(IdError::NotAPerson {
                input: truncate_input(input),
                server: jid.server,
            })
        }
    }

    /// The phone number, if that is how the person is named.
    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            ContactRef::Phone(p) => Some(p),
            ContactRef::Lid(_) => None,
        }
    }

    /// The LID, if that is how the person is named.
    pub fn lid(&self) -> Option<&Lid> {
        match self {
            ContactRef::Lid(l) => Some(l),
            ContactRef::Phone(_) => None,
        }
    }

    /// `<digits>@s.whatsapp.net` or `<digits>@lid`.
    pub fn to_engine(&self) -> Jid {
        match self {
            ContactRef::Phone(p) => Jid::from_phone(p),
            ContactRef::Lid(l) => Jid::from_lid(l),
        }
    }

    /// WAHA's chat id: `<digits>@c.us` or `<digits>@lid`.
    pub fn to_waha(&self) -> Jid {
        match self {
            ContactRef::Phone(p) => Jid::from_phone_c_us(p),
            ContactRef::Lid(l) => Jid::from_lid(l),
        }
    }
}

impl fmt::Display for ContactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContactRef::Phone(p) => p.fmt(f),
            ContactRef::Lid(l) => l.fmt(f),
        }
    }
}

impl FromStr for ContactRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContactRef::parse(s, &Convention::Waha)
    }
}

impl From<PhoneNumber> for ContactRef {
    fn from(p: PhoneNumber) -> Self {
        ContactRef::Phone(p)
    }
}

impl From<Lid> for ContactRef {
    fn from(l: Lid) -> Self {
        ContactRef::Lid(l)
    }
}

// ---------------------------------------------------------------------------------
// serde: the string forms
// ---------------------------------------------------------------------------------

macro_rules! serde_as_string {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_as_string!(Jid, Lid, ContactRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jid_forms() {
        for (input, user, server, agent, device, shown) in [
            (
                "15551234567@s.whatsapp.net",
                "15551234567",
                Server::Pn,
                0,
                0,
                "15551234567@s.whatsapp.net",
            ),
            (
                "15551234567@c.us",
                "15551234567",
                Server::CUs,
                0,
                0,
                "15551234567@c.us",
            ),
            (
                "15551234567:7@s.whatsapp.net",
                "15551234567",
                Server::Pn,
                0,
                7,
                "15551234567:7@s.whatsapp.net",
            ),
            (
                "15551234567.1:7@s.whatsapp.net",
                "15551234567",
                Server::Pn,
                1,
                7,
                "15551234567.1:7@s.whatsapp.net",
            ),
            (
                "15551234567_1:7@s.whatsapp.net",
                "15551234567",
                Server::Pn,
                1,
                7,
                "15551234567.1:7@s.whatsapp.net",
            ),
            (
                "15551234567.2@s.whatsapp.net",
                "15551234567",
                Server::Pn,
                2,
                0,
                "15551234567.2:0@s.whatsapp.net",
            ),
            (
                "123456789012345@lid",
                "123456789012345",
                Server::Lid,
                0,
                0,
                "123456789012345@lid",
            ),
            (
                "123456789012345:12@lid",
                "123456789012345",
                Server::Lid,
                0,
                12,
                "123456789012345:12@lid",
            ),
            (
                "1234567890-123456@g.us",
                "1234567890-123456",
                Server::Group,
                0,
                0,
                "1234567890-123456@g.us",
            ),
            (
                "120363025246125486@g.us",
                "120363025246125486",
                Server::Group,
                0,
                0,
                "120363025246125486@g.us",
            ),
            (
                "status@broadcast",
                "status",
                Server::Broadcast,
                0,
                0,
                "status@broadcast",
            ),
            (
                "120363144038483540@newsletter",
                "120363144038483540",
                Server::Newsletter,
                0,
                0,
                "120363144038483540@newsletter",
            ),
            (
                "15551234567%40C.US",
                "15551234567",
                Server::CUs,
                0,
                0,
                "15551234567@c.us",
            ),
            (
                " +15551234567@c.us ",
                "15551234567",
                Server::CUs,
                0,
                0,
                "15551234567@c.us",
            ),
            (
                "15551234567%3A3%40s.whatsapp.net",
                "15551234567",
                Server::Pn,
                0,
                3,
                "15551234567:3@s.whatsapp.net",
            ),
        ] {
            let j = Jid::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (j.user(), j.server(), j.agent(), j.device()),
                (user, server, agent, device),
                "{input}"
            );
            assert_eq!(j.to_string(), shown, "{input}");
            assert_eq!(Jid::parse(&j.to_string()).unwrap(), j);
        }
    }

    #[test]
    fn jid_errors() {
        for (input, code) in [
            ("", "empty"),
            ("  ", "empty"),
            ("15551234567", "invalid_jid"),
            ("@s.whatsapp.net", "invalid_jid"),
            ("abc@s.whatsapp.net", "invalid_jid"),
            ("1@2@s.whatsapp.net", "invalid_jid"),
            ("1:x@s.whatsapp.net", "invalid_jid"),
            ("1:70000@s.whatsapp.net", "invalid_jid"),
            ("1.300@s.whatsapp.net", "invalid_jid"),
            ("1:2:3@s.whatsapp.net", "invalid_jid"),
            ("1.2.3@s.whatsapp.net", "invalid_jid"),
            ("1-2-3@g.us", "invalid_jid"),
            ("15551234567@example.com", "unknown_server"),
            ("15551234567@", "unknown_server"),
        ] {
            let e = Jid::parse(input).unwrap_err();
            assert_eq!(e.code(), code, "{input}: {e}");
            assert_eq!(e.input(), input, "{input}");
        }
    }

    #[test]
    fn conversions() {
        let j = Jid::parse("15551234567:7@s.whatsapp.net").unwrap();
        assert_eq!(j.to_waha().to_string(), "15551234567@c.us");
        assert_eq!(j.to_engine().to_string(), "15551234567:7@s.whatsapp.net");
        assert_eq!(j.to_non_ad().to_string(), "15551234567@s.whatsapp.net");
        assert_eq!(j.wa_id(), Some("15551234567"));
        let c = Jid::parse("15551234567@c.us").unwrap();
        assert_eq!(c.to_engine().to_string(), "15551234567@s.whatsapp.net");
        assert_eq!(c.to_engine().to_waha(), c);
        let l = Jid::parse("123@lid").unwrap();
        assert_eq!(l.wa_id(), None);
        assert_eq!(l.to_waha(), l);
        assert_eq!(Jid::new("123", Server::Lid).unwrap(), l);
        assert!(Jid::new("x", Server::Lid).is_err());
        assert_eq!(
            Jid::from_phone(&"+15551234567".parse().unwrap())
                .with_device(3)
                .to_string(),
            "15551234567:3@s.whatsapp.net"
        );
    }

    #[test]
    fn lid() {
        let l = Lid::parse("123456789012345@lid").unwrap();
        assert_eq!(l.user(), "123456789012345");
        assert_eq!(l.to_string(), "123456789012345@lid");
        assert_eq!(Lid::parse("123456789012345:4%40lid").unwrap(), l);
        assert_eq!(
            Lid::parse("15551234567@c.us").unwrap_err().code(),
            "invalid_lid"
        );
        assert_eq!(Lid::parse("x@lid").unwrap_err().code(), "invalid_lid");
        assert_eq!(Lid::parse("").unwrap_err().code(), "empty");
        assert_eq!(l.to_jid().to_string(), "123456789012345@lid");
        assert_eq!(Lid::new("123456789012345").unwrap(), l);
        assert_eq!(Lid::new("12a").unwrap_err().code(), "invalid_lid");
        assert_eq!(Lid::new("").unwrap_err().code(), "invalid_lid");
    }

    #[test]
    fn contact_ref_forms() {
        let w = Convention::Waha;
        for input in [
            "15551234567",
            "+1 (555) 123-4567",
            "15551234567@c.us",
            "15551234567@s.whatsapp.net",
            "15551234567:7@s.whatsapp.net",
            "15551234567.1:7@s.whatsapp.net",
            "15551234567%40c.us",
            "+15551234567@c.us",
            "+1 (555) 123-4567:3@c.us",
        ] {
            let r = ContactRef::parse(input, &w).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), "+15551234567", "{input}");
            assert_eq!(r.to_waha().to_string(), "15551234567@c.us");
            assert_eq!(r.to_engine().to_string(), "15551234567@s.whatsapp.net");
        }
        let r = ContactRef::parse("123456789012345@lid", &w).unwrap();
        assert_eq!(r.lid().unwrap().user(), "123456789012345");
        assert_eq!(r.to_string(), "123456789012345@lid");
        assert_eq!(ContactRef::parse("123456789012345:2%40lid", &w).unwrap(), r);
    }

    #[test]
    fn contact_ref_errors_name_the_input() {
        let w = Convention::Waha;
        for (input, code) in [
            ("1234567890-123456@g.us", "group_not_allowed"),
            ("120363025246125486%40g.us", "group_not_allowed"),
            ("status@broadcast", "broadcast_not_allowed"),
            ("123@newsletter", "newsletter_not_allowed"),
            ("123@bot", "not_a_person"),
            ("", "empty"),
            ("abc", "invalid_phone"),
            ("12@c.us", "too_short"),
            ("abc@c.us", "invalid_phone"),
            ("123@example.com", "unknown_server"),
            ("me", "invalid_phone"),
        ] {
            let e = ContactRef::parse(input, &w).unwrap_err();
            assert_eq!(e.code(), code, "{input}: {e}");
            assert_eq!(e.input(), input, "{input}");
            assert!(e.to_string().contains(input), "{input}: {e}");
        }
    }

    #[test]
    fn jid_digits_ignore_the_onprem_convention() {
        let india = Convention::onprem("IN".parse().unwrap());
        let r = ContactRef::parse("15551234567@c.us", &india).unwrap();
        assert_eq!(r.to_string(), "+15551234567");
        let r = ContactRef::parse("6315551002", &india).unwrap();
        assert_eq!(r.to_string(), "+916315551002");
    }

    #[test]
    fn serde_strings() {
        let r: ContactRef = serde_json::from_str("\"15551234567@c.us\"").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"+15551234567\"");
        let j: Jid = serde_json::from_str("\"1:2@s.whatsapp.net\"").unwrap();
        assert_eq!(serde_json::to_string(&j).unwrap(), "\"1:2@s.whatsapp.net\"");
        let l: Lid = serde_json::from_str("\"9@lid\"").unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"9@lid\"");
        assert!(serde_json::from_str::<Jid>("\"x\"").is_err());
    }
}
