//! WhatsApp usernames (`@handle`), their optional PIN, and the key of an existence
//! check, which names a person by number or by username.
//!
//! A username maps to a person's LID, not to their phone number; a person may also
//! set a PIN (WhatsApp calls it the "username key") that a stranger must give for
//! the lookup to find them. Both are parsed here, at the edge, so that the rest of
//! the code only ever holds well-formed ones.
//!
//! Username rules (WhatsApp's, as announced for the June 2026 reservations): 3 to 35
//! characters of lower-case ASCII letters, digits, `.` and `_`, with at least one
//! letter; not starting with `www.` or `.`, no `..`, and not ending in a web domain
//! such as `.com`. The input may carry one leading `@`, surrounding blanks, and
//! upper-case letters (usernames are case-insensitive; they are folded to lower case).
//! PIN: exactly [`PIN_DIGITS`] ASCII digits.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::ids::PhoneNumber;
use crate::phone::truncate_input;

/// Shortest username (characters, without the `@`).
pub const MIN_USERNAME: usize = 3;
/// Longest username (characters, without the `@`).
pub const MAX_USERNAME: usize = 35;
/// Digits of a username PIN (WhatsApp's "username key" is a 4-digit code).
pub const PIN_DIGITS: usize = 4;

/// Endings that make a username look like a web address (`alice.com`): refused.
const DOMAIN_ENDINGS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "app", "dev", "me",
    "xyz", "online", "site", "shop", "store", "tech", "ai", "tv", "us", "uk", "br", "in", "de",
    "fr", "es", "it", "mx", "ar", "ru", "cn", "jp", "id", "ng", "za", "pk",
];

/// Why an input is not a username or a PIN. [`UsernameError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Code `invalid_username`.
    #[error("{input:?} is not a WhatsApp username: {reason}")]
    Username {
        /// The input as given (truncated to 200 chars).
        input: String,
        /// Human-readable reason.
        reason: &'static str,
    },
    /// Code `invalid_pin`.
    #[error("the username PIN must be {PIN_DIGITS} digits")]
    Pin {
        /// The input as given (truncated to 200 chars).
        input: String,
    },
}

impl UsernameError {
    /// `invalid_username` or `invalid_pin`.
    pub fn code(&self) -> &'static str {
        match self {
            UsernameError::Username { .. } => "invalid_username",
            UsernameError::Pin { .. } => "invalid_pin",
        }
    }

    /// The offending input (truncated to 200 chars).
    pub fn input(&self) -> &str {
        match self {
            UsernameError::Username { input, .. } | UsernameError::Pin { input } => input,
        }
    }
}

/// A well-formed WhatsApp username, lower case, without the `@`. `Display` gives
/// it without `@`; [`Username::handle`] with.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Parses `alice.b`, `@alice.b`, ` @Alice.B ` (see the module's rules).
    pub fn parse(input: &str) -> Result<Username, UsernameError> {
        let fail = |reason| UsernameError::Username {
            input: truncate_input(input),
            reason,
        };
        let s = input.trim();
        let s = s.strip_prefix('@').unwrap_or(s);
        if s.len() > MAX_USERNAME * 4 {
            return Err(fail("it is longer than 35 characters"));
        }
        let s = s.to_ascii_lowercase();
        let n = s.chars().count();
        if n < MIN_USERNAME {
            return Err(fail("it is shorter than 3 characters"));
        }
        if n > MAX_USERNAME {
            return Err(fail("it is longer than 35 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
        {
            return Err(fail(
                "only lower-case letters, digits, '.' and '_' are allowed",
            ));
        }
        if !s.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(fail("it needs at least one letter"));
        }
        if s.starts_with('.') {
            return Err(fail("it may not start with '.'"));
        }
        if s.starts_with("www.") {
            return Err(fail("it may not start with 'www.'"));
        }
        if s.contains("..") {
            return Err(fail("it may not hold '..'"));
        }
        if let Some((_, ending)) = s.rsplit_once('.')
            && DOMAIN_ENDINGS.contains(&ending)
        {
            return Err(fail("it may not end in a web domain such as '.com'"));
        }
        Ok(Username(s))
    }

    /// The username without `@`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The username with its `@`, as people write it.
    pub fn handle(&self) -> String {
        format!("@{}", self.0)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

impl Serialize for Username {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A username PIN: [`PIN_DIGITS`] ASCII digits. Its `Debug` hides the digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsernamePin(String);

impl UsernamePin {
    /// Parses `1234` (blanks around it are dropped).
    pub fn parse(input: &str) -> Result<UsernamePin, UsernameError> {
        let s = input.trim();
        if s.len() == PIN_DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(UsernamePin(s.to_owned()))
        } else {
            Err(UsernameError::Pin {
                input: truncate_input(input),
            })
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UsernamePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UsernamePin(****)")
    }
}

/// A username lookup: the username and the PIN given with it. Two lookups of one
/// username with different PINs are different questions (a wrong PIN finds nobody).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsernameQuery {
    pub username: Username,
    pub pin: Option<UsernamePin>,
}

/// What an existence check asks about: a number, or a username (with its PIN).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKey {
    Phone(PhoneNumber),
    Username(UsernameQuery),
}

impl CheckKey {
    /// The key of the existence cache: the number's E.164 digits, or `@username`,
    /// followed by `#PIN` when a PIN was given. The two never collide (a username
    /// starts with `@`).
    pub fn cache_key(&self) -> String {
        match self {
            CheckKey::Phone(p) => p.wa_id(),
            CheckKey::Username(q) => match &q.pin {
                Some(pin) => format!("@{}#{}", q.username, pin.as_str()),
                None => format!("@{}", q.username),
            },
        }
    }
}

impl From<PhoneNumber> for CheckKey {
    fn from(p: PhoneNumber) -> Self {
        CheckKey::Phone(p)
    }
}

impl From<UsernameQuery> for CheckKey {
    fn from(q: UsernameQuery) -> Self {
        CheckKey::Username(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames_table() {
        let ok = [
            ("alice", "alice"),
            ("@alice", "alice"),
            (" @Alice.B ", "alice.b"),
            ("a_1", "a_1"),
            ("john.doe", "john.doe"),
            ("x2.y_z", "x2.y_z"),
            ("abc", "abc"),
            (
                "a23456789012345678901234567890123_5",
                "a23456789012345678901234567890123_5",
            ),
            ("com.alice", "com.alice"),
            ("alice.", "alice."),
        ];
        for (input, want) in ok {
            let u = Username::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(u.as_str(), want, "{input}");
            assert_eq!(u.handle(), format!("@{want}"));
            assert_eq!(Username::parse(&u.handle()).unwrap(), u, "round trip");
        }
        let bad = [
            "",
            "@",
            "ab",
            "@ab",
            "123",
            "1_2.3",
            "a234567890123456789012345678901234_6",
            "alice smith",
            "alice-b",
            "alicé",
            "@@alice",
            ".alice",
            "www.alice",
            "WWW.alice",
            "al..ice",
            "alice.com",
            "alice.io",
            "alice.COM",
            "alice@x",
            "+15551234567",
        ];
        for input in bad {
            let e = Username::parse(input).expect_err(input);
            assert_eq!(e.code(), "invalid_username", "{input}");
            assert_eq!(e.input(), input);
        }
    }

    #[test]
    fn pins_table() {
        assert_eq!(UsernamePin::parse("1234").unwrap().as_str(), "1234");
        assert_eq!(UsernamePin::parse(" 0007 ").unwrap().as_str(), "0007");
        for bad in ["", "123", "12345", "12a4", "１２３４", "-123"] {
            let e = UsernamePin::parse(bad).expect_err(bad);
            assert_eq!(e.code(), "invalid_pin");
            assert_eq!(e.input(), bad);
        }
        assert!(!format!("{:?}", UsernamePin::parse("1234").unwrap()).contains("1234"));
    }

    #[test]
    fn cache_keys_do_not_collide() {
        let u = |s: &str, pin: Option<&str>| {
            CheckKey::Username(UsernameQuery {
                username: Username::parse(s).unwrap(),
                pin: pin.map(|p| UsernamePin::parse(p).unwrap()),
            })
        };
        let phone = CheckKey::Phone(PhoneNumber::parse("+15551234567").unwrap());
        assert_eq!(phone.cache_key(), "15551234567");
        assert_eq!(u("alice", None).cache_key(), "@alice");
        assert_eq!(u("alice", Some("1234")).cache_key(), "@alice#1234");
        assert_ne!(u("alice", Some("1234")), u("alice", None));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepted_is_well_formed(s in "\\PC{0,60}") {
            if let Ok(u) = Username::parse(&s) {
                let v = u.as_str();
                prop_assert!((MIN_USERNAME..=MAX_USERNAME).contains(&v.len()));
                prop_assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'));
                prop_assert!(v.bytes().any(|b| b.is_ascii_lowercase()));
                prop_assert!(!v.starts_with('.') && !v.starts_with("www.") && !v.contains(".."));
                prop_assert_eq!(Username::parse(&u.handle()).unwrap(), u.clone());
            }
            let _ = UsernamePin::parse(&s);
        }

        #[test]
        fn well_formed_usernames_parse(s in "[a-z][a-z0-9_]{2,34}") {
            let u = Username::parse(&s).unwrap();
            prop_assert_eq!(u.as_str(), s.as_str());
        }
    }
}
