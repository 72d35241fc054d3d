//! Any dialable format to E.164.
//!
//! [`normalize`] turns what a user typed (`+1 (555) 123-4567`, `5511987654321`,
//! `0044 7911 123456`, `tel:+1-650-253-0000;ext=123`, ...) into a [`PhoneNumber`]
//! under one of two [`Convention`]s:
//!
//! * [`Convention::Waha`] (WAHA, Wawp, Whinself): digits without `+` already carry
//!   the country code (`5511987654321` is `+55 11 98765-4321`). A leading `00` is
//!   read as the international prefix.
//! * [`Convention::OnPrem`] (WhatsApp Business On-Premises): `+` means international;
//!   no `+` means a national number of the session's own country, dialled as a person
//!   in that country would dial it (national prefix, carrier codes and the
//!   country's international prefix are understood). For a `+91` account `6315551002`
//!   is `+916315551002` and `1-631-555-1002` is `+9116315551002`.
//!
//! Parsing rules shared by both conventions:
//!
//! * accepted characters: decimal digits (ASCII, full-width, Arabic-Indic), one
//!   leading `+`, and the usual separators (spaces, `-`, `.`, `/`, `()`, `[]`,
//!   Unicode dashes and spaces);
//! * an extension (`ext. 123`, `x123`, `#123`, `;ext=123`) and the RFC 3966 `tel:`
//!   scheme are accepted and dropped (WhatsApp has no extensions);
//! * anything else, letters in particular (no vanity numbers), is
//!   [`PhoneError::Invalid`];
//! * the national number must have a length that the country uses
//!   ([`PhoneError::TooShort`], [`PhoneError::TooLong`]); a number need not be
//!   *valid* by libphonenumber's patterns, because WhatsApp ids keep historical forms
//!   (Brazilian mobiles without the 9th digit, Mexican `521` numbers);
//! * at most 15 digits in E.164.
//!
//! Nothing in this module panics, whatever the input.
//!
//! WhatsApp, not this module, decides the canonical id of a person: [`candidates`]
//! lists the forms worth asking WhatsApp about (Brazil's 9th digit, Mexico's `521`,
//! Argentina's `549`), see [`variants`].

pub mod report;
pub mod variants;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use phonenumber::country;
use phonenumber::metadata::DATABASE;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::Jid;

pub use variants::{candidates, dialable};

/// Longest input (in bytes, after trimming) that is looked at at all.
const MAX_INPUT_BYTES: usize = 256;
/// More digits than this cannot be a phone number in any notation we accept
/// (15 digits of E.164 plus an international prefix and a carrier code).
const MAX_RAW_DIGITS: usize = 24;
/// Fewer digits than this cannot be a phone number.
const MIN_RAW_DIGITS: usize = 3;
/// E.164: at most 15 digits, country code included.
pub const MAX_E164_DIGITS: usize = 15;
/// How much of an offending input an error keeps (in chars).
const MAX_ERROR_INPUT_CHARS: usize = 200;

// ---------------------------------------------------------------------------------
// PhoneNumber
// ---------------------------------------------------------------------------------

/// A phone number in E.164: a country calling code and a national significant
/// number, at most 15 digits together.
///
/// `Display` gives `+<digits>` (`+5511987654321`); [`PhoneNumber::wa_id`] gives the
/// bare digits used by WhatsApp and the On-Premises API. `FromStr` and `Deserialize`
/// accept anything [`normalize`] accepts under [`Convention::Waha`], so the `Display`
/// form (and the bare `wa_id` digits) parse back to the same value.
///
/// The type is `Copy` and cheap to compare and hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber {
    /// All E.164 digits as a number (the first digit is never 0).
    digits: u64,
    /// How many of the leading digits are the country calling code (1..=3).
    cc_len: u8,
}

impl PhoneNumber {
    /// Parses with [`Convention::Waha`]: `+5511987654321`, `5511987654321`,
    /// `+1 (555) 123-4567`, ... See [`normalize`].
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        normalize(input, &Convention::Waha)
    }

    /// Builds a number from a country code and national digits, checking both.
    pub fn from_parts(country_code: u16, national: &str) -> Result<Self, PhoneError> {
        let input = format!("+{country_code}{national}");
        if !national.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::invalid(
                &input,
                "the national number must be digits",
            ));
        }
        let Some(info) = cc_info(country_code) else {
            return Err(PhoneError::invalid_country_code(&input));
        };
        check_lengths(&input, country_code, info, national)?;
        Self::assemble(country_code, national).ok_or_else(|| PhoneError::too_long(&input))
    }

    /// Unchecked assembly (lengths already checked, digits only).
    fn assemble(country_code: u16, national: &str) -> Option<Self> {
        let cc_len = digit_count(u64::from(country_code));
        if country_code == 0 || cc_len as usize + national.len() > MAX_E164_DIGITS {
            return None;
        }
        let mut digits = u64::from(country_code);
        for b in national.bytes() {
            digits = digits * 10 + u64::from(b.wrapping_sub(b'0'));
        }
        Some(PhoneNumber { digits, cc_len })
    }

    /// The country calling code (`55` for Brazil, `1` for NANPA).
    pub fn country_code(&self) -> u16 {
        let national_len = self.len() - self.cc_len as usize;
        (self.digits / 10u64.pow(national_len as u32)) as u16
    }

    /// The national significant number (digits after the country code; may start
    /// with `0`, e.g. Italian landlines).
    pub fn national_number(&self) -> String {
        let all = self.digits.to_string();
        all[self.cc_len as usize..].to_owned()
    }

    /// Number of digits in E.164 (country code included).
    pub fn len(&self) -> usize {
        digit_count(self.digits) as usize
    }

    /// Never true: a phone number has at least a country code and a national number.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `+<digits>`, the same as `Display`.
    pub fn e164(&self) -> String {
        self.to_string()
    }

    /// The digits without `+`: WhatsApp's user part and the On-Premises `wa_id`.
    pub fn wa_id(&self) -> String {
        self.digits.to_string()
    }

    /// The person's chat id in WAHA's spelling, `<digits>@c.us`.
    pub fn to_waha(&self) -> Jid {
        Jid::from_phone_c_us(self)
    }

    /// The person's id as WhatsApp and the engine spell it, `<digits>@s.whatsapp.net`
    /// (also Whinself's `jid`).
    pub fn to_engine(&self) -> Jid {
        Jid::from_phone(self)
    }

    /// For logs: the country code and the last two digits, the rest masked
    /// (`+5511987654321` → `+55*********21`).
    pub fn redacted(&self) -> String {
        let all = self.digits.to_string();
        let cc = self.cc_len as usize;
        let keep = all.len().saturating_sub(2).max(cc);
        format!("+{}{}{}", &all[..cc], "*".repeat(keep - cc), &all[keep..])
    }

    /// The main region for the country code (`US` for `+1`), `None` for
    /// non-geographic codes (`+800`, `+882`, ...).
    pub fn region(&self) -> Option<Region> {
        cc_info(self.country_code()).and_then(|i| i.main_region)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber(+{})", self.digits)
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        PhoneNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn digit_count(mut v: u64) -> u8 {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------
// Region and Convention
// ---------------------------------------------------------------------------------

/// A country or territory as an ISO 3166-1 alpha-2 code (`BR`, `US`, `IN`), limited to
/// those the phone metadata knows. Parsing is case-insensitive; `Display` is upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    id: country::Id,
    code: [u8; 2],
}

impl Region {
    /// Parses `BR`, `br`, ...
    pub fn parse(input: &str) -> Result<Self, RegionError> {
        let upper = input.trim().to_ascii_uppercase();
        let err = || RegionError {
            input: truncate_input(input),
        };
        if upper.len() != 2 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(err());
        }
        if DATABASE.by_id(upper.as_str()).is_none() {
            return Err(err());
        }
        let id = upper.parse::<country::Id>().map_err(|_| err())?;
        let b = upper.as_bytes();
        Ok(Region {
            id,
            code: [b[0], b[1]],
        })
    }

    /// The two-letter code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("ZZ")
    }

    /// The country calling code of the region (`55` for `BR`).
    pub fn country_code(&self) -> u16 {
        DATABASE
            .by_id(self.as_str())
            .map(|m| m.country_code())
            .unwrap_or(0)
    }

    fn id(&self) -> country::Id {
        self.id
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Region::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An unknown region code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a known two-letter region code (ISO 3166-1 alpha-2, e.g. BR, US, IN)")]
pub struct RegionError {
    input: String,
}

impl RegionError {
    /// Stable machine-readable code: `invalid_region`.
    pub fn code(&self) -> &'static str {
        "invalid_region"
    }
    /// The offending input (truncated to 200 chars).
    pub fn input(&self) -> &str {
        &self.input
    }
}

/// How digits without a leading `+` are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Convention {
    /// WAHA, Wawp, Whinself: digits without `+` already carry the country code.
    #[default]
    Waha,
    /// WhatsApp Business On-Premises: no `+` means a national number of the session's
    /// own country. With `own_region: None` such input is
    /// [`PhoneError::MissingCountryCode`].
    OnPrem {
        /// The session's own country.
        own_region: Option<Region>,
    },
}

impl Convention {
    /// On-Premises convention for a session in `region`.
    pub fn onprem(region: Region) -> Self {
        Convention::OnPrem {
            own_region: Some(region),
        }
    }

    /// On-Premises convention for the session whose own number is `own`
    /// (its country's main region: `+1…` reads national numbers as `US`).
    pub fn onprem_for_own_number(own: &PhoneNumber) -> Self {
        Convention::OnPrem {
            own_region: own.region(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// Why an input is not a phone number. Every variant keeps the offending input
/// (truncated to 200 characters) and has a stable [`PhoneError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Empty or blank input. Code `empty`.
    #[error("the phone number is empty")]
    Empty {
        /// The input as given.
        input: String,
    },
    /// Not a phone number at all: letters, stray symbols, no digits. Code `invalid_phone`.
    #[error("{input:?} is not a phone number: {reason}")]
    Invalid {
        /// The input as given.
        input: String,
        /// Human-readable reason.
        reason: String,
    },
    /// Too few digits for that country. Code `too_short`.
    #[error("{input:?} has too few digits for a phone number")]
    TooShort {
        /// The input as given.
        input: String,
    },
    /// Too many digits for that country, or more than 15 in E.164. Code `too_long`.
    #[error("{input:?} has too many digits for a phone number")]
    TooLong {
        /// The input as given.
        input: String,
    },
    /// No `+` and no way to know the country. Code `missing_country_code`.
    #[error(
        "{input:?} has no country code: write it with + and the country code, e.g. +5511987654321"
    )]
    MissingCountryCode {
        /// The input as given.
        input: String,
    },
    /// The digits do not start with a country calling code. Code `invalid_country_code`.
    #[error("{input:?} does not start with a known country calling code")]
    InvalidCountryCode {
        /// The input as given.
        input: String,
    },
}

impl PhoneError {
    /// Stable machine-readable code: `empty`, `invalid_phone`, `too_short`, `too_long`,
    /// `missing_country_code`, `invalid_country_code`.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty { .. } => "empty",
            PhoneError::Invalid { .. } => "invalid_phone",
            PhoneError::TooShort { .. } => "too_short",
            PhoneError::TooLong { .. } => "too_long",
            PhoneError::MissingCountryCode { .. } => "missing_country_code",
            PhoneError::InvalidCountryCode { .. } => "invalid_country_code",
        }
    }

    /// The offending input (truncated to 200 chars).
    pub fn input(&self) -> &str {
        match self {
            PhoneError::Empty { input }
            | PhoneError::Invalid { input, .. }
            | PhoneError::TooShort { input }
            | PhoneError::TooLong { input }
            | PhoneError::MissingCountryCode { input }
            | PhoneError::InvalidCountryCode { input } => input,
        }
    }

    /// The same error naming another input (e.g. the whole id a number came from).
    pub(crate) fn with_input(self, input: &str) -> Self {
        let input = truncate_input(input);
        match self {
            PhoneError::Empty { .. } => PhoneError::Empty { input },
            PhoneError::Invalid { reason, .. } => PhoneError::Invalid { input, reason },
            PhoneError::TooShort { .. } => PhoneError::TooShort { input },
            PhoneError::TooLong { .. } => PhoneError::TooLong { input },
            PhoneError::MissingCountryCode { .. } => PhoneError::MissingCountryCode { input },
            PhoneError::InvalidCountryCode { .. } => PhoneError::InvalidCountryCode { input },
        }
    }

    fn empty(input: &str) -> Self {
        PhoneError::Empty {
            input: truncate_input(input),
        }
    }
    fn invalid(input: &str, reason: impl Into<String>) -> Self {
        PhoneError::Invalid {
            input: truncate_input(input),
            reason: reason.into(),
        }
    }
    fn too_short(input: &str) -> Self {
        PhoneError::TooShort {
            input: truncate_input(input),
        }
    }
    fn too_long(input: &str) -> Self {
        PhoneError::TooLong {
            input: truncate_input(input),
        }
    }
    fn missing_country_code(input: &str) -> Self {
        PhoneError::MissingCountryCode {
            input: truncate_input(input),
        }
    }
    fn invalid_country_code(input: &str) -> Self {
        PhoneError::InvalidCountryCode {
            input: truncate_input(input),
        }
    }
}

/// Keeps at most 200 chars of an input for an error message.
pub(crate) fn truncate_input(input: &str) -> String {
    match input.char_indices().nth(MAX_ERROR_INPUT_CHARS) {
        None => input.to_owned(),
        Some((i, _)) => format!("{}…", &input[..i]),
    }
}

// ---------------------------------------------------------------------------------
// Cleaning the raw input
// ---------------------------------------------------------------------------------

/// What is left of an input once separators, `tel:` and extensions are gone.
struct Cleaned {
    plus: bool,
    /// ASCII digits only.
    digits: String,
}

/// Unicode decimal digits we accept, mapped to ASCII.
fn decimal(c: char) -> Option<u8> {
    let zero = match c {
        '0'..='9' => '0',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}', // full-width
        '\u{0660}'..='\u{0669}' => '\u{0660}', // Arabic-Indic
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}', // Extended Arabic-Indic (Persian)
        '\u{0966}'..='\u{096F}' => '\u{0966}', // Devanagari
        _ => return None,
    };
    Some(b'0' + (c as u32 - zero as u32) as u8)
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '-'
            | '.'
            | '/'
            | '('
            | ')'
            | '['
            | ']'
            | '~'
            | '\u{00A0}'
            | '\u{00AD}'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{30FC}'
            | '\u{FF0D}'..='\u{FF0F}'
            | '\u{200B}'
            | '\u{2060}'
            | '\u{3000}'
            | '\u{FF08}'
            | '\u{FF09}'
            | '\u{2000}'..='\u{200A}'
            | '\u{202F}'
    )
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Finds an extension marker (`ext`, `extn`, `extension`, `x`, `#`, `;ext=`) that is
/// followed only by the extension digits, and returns where the number part ends.
fn split_extension(s: &str) -> Option<usize> {
    const MARKERS: [&str; 6] = [";ext=", "extension", "extn", "ext", "x", "#"];
    for (i, c) in s.char_indices() {
        if !(c.is_ascii_alphabetic() || c == '#' || c == ';') {
            continue;
        }
        let rest = &s[i..];
        for m in MARKERS {
            if let Some(after) = strip_prefix_ci(rest, m) {
                let after = after.trim_start_matches(['.', ':', '=', ' ', '\t', '\u{00A0}']);
                let after = after.trim_end_matches(['#', ' ', '\t']);
                if !after.is_empty()
                    && after.len() <= 10
                    && after.bytes().all(|b| b.is_ascii_digit())
                {
                    return Some(i);
                }
            }
        }
        // The first letter decides: if it does not start an extension, the input is
        // not a phone number.
        return None;
    }
    None
}

fn clean(input: &str) -> Result<Cleaned, PhoneError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(PhoneError::empty(input));
    }
    if s.len() > MAX_INPUT_BYTES {
        return Err(PhoneError::too_long(input));
    }
    let mut s = s;
    if let Some(rest) = strip_prefix_ci(s, "tel:") {
        let mut parts = rest.split(';');
        let number = parts.next().unwrap_or("");
        for p in parts {
            if strip_prefix_ci(p, "phone-context=").is_some() {
                return Err(PhoneError::invalid(
                    input,
                    "tel: URIs with phone-context are not supported",
                ));
            }
        }
        s = number;
    } else if let Some(end) = split_extension(s) {
        s = &s[..end];
    }

    let mut plus = false;
    let mut digits = String::with_capacity(s.len().min(MAX_RAW_DIGITS));
    for c in s.chars() {
        if let Some(d) = decimal(c) {
            if digits.len() == MAX_RAW_DIGITS {
                return Err(PhoneError::too_long(input));
            }
            digits.push(d as char);
        } else if c == '+' || c == '\u{FF0B}' {
            if plus || !digits.is_empty() {
                return Err(PhoneError::invalid(input, "'+' may only start the number"));
            }
            plus = true;
        } else if is_separator(c) {
        } else if c == '@' {
            return Err(PhoneError::invalid(
                input,
                "'@' belongs to a WhatsApp id, not to a phone number",
            ));
        } else if c.is_alphabetic() {
            return Err(PhoneError::invalid(input, "letters are not allowed"));
        } else {
            return Err(PhoneError::invalid(
                input,
                format!("unexpected character {c:?}"),
            ));
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::invalid(input, "no digits"));
    }
    if digits.len() < MIN_RAW_DIGITS {
        return Err(PhoneError::too_short(input));
    }
    Ok(Cleaned { plus, digits })
}

// ---------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------

/// Parses `input` into E.164 under `convention` (see the module docs for the accepted
/// forms). Never panics.
///
/// ```
/// use wacontacts_core::phone::{normalize, Convention, Region};
/// let waha = Convention::Waha;
/// assert_eq!(normalize("5511987654321", &waha).unwrap().to_string(), "+5511987654321");
/// assert_eq!(normalize("+1 (555) 123-4567", &waha).unwrap().wa_id(), "15551234567");
/// let india = Convention::onprem("IN".parse::<Region>().unwrap());
/// assert_eq!(normalize("6315551002", &india).unwrap().to_string(), "+916315551002");
/// assert_eq!(normalize("abc", &waha).unwrap_err().code(), "invalid_phone");
/// ```
pub fn normalize(input: &str, convention: &Convention) -> Result<PhoneNumber, PhoneError> {
    let c = clean(input)?;
    match (c.plus, convention) {
        (true, _) => international(input, &c.digits, true),
        (false, Convention::Waha) => {
            let d = c.digits.strip_prefix("00").unwrap_or(&c.digits);
            international(input, d, false)
        }
        (
            false,
            Convention::OnPrem {
                own_region: Some(region),
            },
        ) => national(input, &c.digits, *region),
        (false, Convention::OnPrem { own_region: None }) => {
            Err(PhoneError::missing_country_code(input))
        }
    }
}

/// Digits that start with the country code.
fn international(input: &str, digits: &str, had_plus: bool) -> Result<PhoneNumber, PhoneError> {
    if digits.starts_with('0') {
        return Err(if had_plus {
            PhoneError::invalid_country_code(input)
        } else {
            PhoneError::missing_country_code(input)
        });
    }
    if digits.len() < MIN_RAW_DIGITS {
        return Err(PhoneError::too_short(input));
    }
    if let Some(r) = fast_international(input, digits) {
        return r;
    }
    let p = slow_international(input, digits)?;
    // The parser stripped a national prefix or carrier code after the country code.
    // The result must read back as itself, or it is not a stable identity.
    let own = p.wa_id();
    if own != digits {
        let again = match fast_international(input, &own) {
            Some(r) => r,
            None => slow_international(input, &own),
        };
        if again.as_ref().ok() != Some(&p) {
            return Err(PhoneError::invalid(
                input,
                "ambiguous: a national prefix follows the country code",
            ));
        }
    }
    Ok(p)
}

/// The common case without phonenumber's parser: find the country code, and if no
/// national prefix of that country can start the rest, the rest is the national
/// number as it stands (which is what the full parser would conclude too; a
/// property test holds the two together).
fn fast_international(input: &str, digits: &str) -> Option<Result<PhoneNumber, PhoneError>> {
    let (cc, info, national) = split_country_code(digits)?;
    if info.may_strip(national) {
        return None;
    }
    Some(finish(input, cc, info, national))
}

/// The country code as libphonenumber finds it: the first of the 1-, 2- and
/// 3-digit prefixes that is a known code. `None` if there is none.
fn split_country_code(digits: &str) -> Option<(u16, &'static CcInfo, &str)> {
    for len in 1..=3.min(digits.len()) {
        let cc: u16 = digits[..len].parse().ok()?;
        if let Some(info) = cc_info(cc) {
            return Some((cc, info, &digits[len..]));
        }
    }
    None
}

pub(crate) fn slow_international(input: &str, digits: &str) -> Result<PhoneNumber, PhoneError> {
    let mut s = String::with_capacity(digits.len() + 1);
    s.push('+');
    s.push_str(digits);
    match phonenumber::parse(None, &s) {
        Ok(parsed) => from_parsed(input, &parsed),
        Err(e) => {
            // Prefer our own, more precise, diagnosis of why.
            match split_country_code(digits) {
                None => Err(PhoneError::invalid_country_code(input)),
                Some((cc, info, national)) => {
                    check_lengths(input, cc, info, national)?;
                    Err(map_parse_error(input, e))
                }
            }
        }
    }
}

fn national(input: &str, digits: &str, region: Region) -> Result<PhoneNumber, PhoneError> {
    let parsed =
        phonenumber::parse(Some(region.id()), digits).map_err(|e| map_parse_error(input, e))?;
    let p = from_parsed(input, &parsed)?;
    // The E.164 form must read back as itself (the parser can leave a national
    // prefix in place, e.g. `+55 00…`).
    match international(input, &p.wa_id(), true) {
        Ok(q) if q == p => Ok(p),
        Ok(_) | Err(_) => Err(PhoneError::invalid(
            input,
            "ambiguous: a national prefix follows the country code",
        )),
    }
}

fn map_parse_error(input: &str, e: phonenumber::ParseError) -> PhoneError {
    use phonenumber::ParseError as P;
    match e {
        P::NoNumber => PhoneError::invalid(input, "no phone number found"),
        P::InvalidCountryCode => PhoneError::invalid_country_code(input),
        P::TooShortAfterIdd | P::TooShortNsn => PhoneError::too_short(input),
        P::TooLong => PhoneError::too_long(input),
        P::MalformedInteger(_) => PhoneError::too_long(input),
    }
}

fn from_parsed(input: &str, parsed: &phonenumber::PhoneNumber) -> Result<PhoneNumber, PhoneError> {
    let cc = parsed.code().value();
    let national = parsed.national().to_string();
    let Some(info) = cc_info(cc) else {
        return Err(PhoneError::invalid_country_code(input));
    };
    if !national.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneError::invalid(input, "no phone number found"));
    }
    finish(input, cc, info, &national)
}

fn finish(input: &str, cc: u16, info: &CcInfo, national: &str) -> Result<PhoneNumber, PhoneError> {
    check_lengths(input, cc, info, national)?;
    PhoneNumber::assemble(cc, national).ok_or_else(|| PhoneError::too_long(input))
}

fn check_lengths(input: &str, cc: u16, info: &CcInfo, national: &str) -> Result<(), PhoneError> {
    let len = national.len();
    if len < info.min_len as usize || len < 2 {
        return Err(PhoneError::too_short(input));
    }
    let total = digit_count(u64::from(cc)) as usize + len;
    if total > MAX_E164_DIGITS {
        return Err(PhoneError::too_long(input));
    }
    if len > info.max_len as usize && !variants::longer_form_allowed(cc, national) {
        return Err(PhoneError::too_long(input));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Per-country-code facts, derived once from phonenumber's metadata
// ---------------------------------------------------------------------------------

pub(crate) struct CcInfo {
    /// Shortest and longest national number of any type (fixed, mobile, toll-free...).
    min_len: u8,
    max_len: u8,
    main_region: Option<Region>,
    /// National prefixes (`0`, `1`, ...) of every region with this code.
    national_prefixes: Vec<String>,
    /// `^(?:national_prefix_for_parsing)` of every region with this code.
    prefix_patterns: Vec<regex::Regex>,
}

impl CcInfo {
    /// Whether libphonenumber could strip or transform something at the start of
    /// `national` (a national prefix, a carrier code, Argentina's `15`).
    fn may_strip(&self, national: &str) -> bool {
        self.national_prefixes
            .iter()
            .any(|p| national.starts_with(p.as_str()))
            || self
                .prefix_patterns
                .iter()
                .any(|re| re.find(national).is_some_and(|m| m.end() > 0))
    }
}

fn cc_info(cc: u16) -> Option<&'static CcInfo> {
    static TABLE: [OnceLock<Option<CcInfo>>; 1000] = [const { OnceLock::new() }; 1000];
    TABLE
        .get(cc as usize)?
        .get_or_init(|| build_cc_info(cc))
        .as_ref()
}

fn build_cc_info(cc: u16) -> Option<CcInfo> {
    let metas = DATABASE.by_code(&cc)?;
    if metas.is_empty() {
        return None;
    }
    let mut min_len = u16::MAX;
    let mut max_len = 0u16;
    let mut national_prefixes = Vec::new();
    let mut prefix_patterns = Vec::new();
    let mut main_region = None;
    for meta in &metas {
        let d = meta.descriptors();
        let descs = [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ];
        for desc in descs.into_iter().flatten() {
            for &l in desc.possible_length() {
                min_len = min_len.min(l);
                max_len = max_len.max(l);
            }
        }
        if let Some(p) = meta.national_prefix()
            && !p.is_empty()
            && !national_prefixes.iter().any(|q| q == p)
        {
            national_prefixes.push(p.to_owned());
        }
        // The metadata's patterns are laid out over several lines; whitespace in them
        // is never meaningful.
        if let Some(re) = meta.national_prefix_for_parsing()
            && let Ok(anchored) = regex::Regex::new(&format!(
                "^(?:{})",
                re.as_str()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
            ))
        {
            prefix_patterns.push(anchored);
        }
        if main_region.is_none() || meta.is_main_country_for_code() {
            main_region = Region::parse(meta.id()).ok().or(main_region);
        }
    }
    if max_len == 0 {
        // No length data: fall back to what E.164 allows.
        min_len = 4;
        max_len = 14;
    }
    Some(CcInfo {
        min_len: min_len.min(17) as u8,
        max_len: max_len.min(17) as u8,
        main_region,
        national_prefixes,
        prefix_patterns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waha(s: &str) -> Result<String, &'static str> {
        normalize(s, &Convention::Waha)
            .map(|p| p.to_string())
            .map_err(|e| e.code())
    }

    #[test]
    fn basic_forms() {
        assert_eq!(waha("15551234567"), Ok("+15551234567".into()));
        assert_eq!(waha("+1 (555) 123-4567"), Ok("+15551234567".into()));
        assert_eq!(waha("0044 7911 123456"), Ok("+447911123456".into()));
        assert_eq!(waha("  +55 11 98765-4321 "), Ok("+5511987654321".into()));
        assert_eq!(waha("+1 650 253 0000 ext. 123"), Ok("+16502530000".into()));
        assert_eq!(waha("+1 650 253 0000 x123"), Ok("+16502530000".into()));
        assert_eq!(
            waha("tel:+1-650-253-0000;ext=123"),
            Ok("+16502530000".into())
        );
        assert_eq!(
            waha("＋５５ １１ ９８７６５-４３２１"),
            Ok("+5511987654321".into())
        );
    }

    #[test]
    fn errors_have_codes() {
        assert_eq!(waha(""), Err("empty"));
        assert_eq!(waha("   "), Err("empty"));
        assert_eq!(waha("abc"), Err("invalid_phone"));
        assert_eq!(waha("+1 800 FLOWERS"), Err("invalid_phone"));
        assert_eq!(waha("5511987654321@c.us"), Err("invalid_phone"));
        assert_eq!(waha("12"), Err("too_short"));
        assert_eq!(waha("123"), Err("too_short"));
        assert_eq!(waha("1234567890123456"), Err("too_long"));
        assert_eq!(waha("+999123456"), Err("invalid_country_code"));
        assert_eq!(waha("011 44 7911 123456"), Err("missing_country_code"));
        assert_eq!(waha("+ 1 + 2"), Err("invalid_phone"));
        assert_eq!(
            normalize("5511987654321", &Convention::OnPrem { own_region: None })
                .unwrap_err()
                .code(),
            "missing_country_code"
        );
        let e = normalize("abc", &Convention::Waha).unwrap_err();
        assert_eq!(e.input(), "abc");
    }

    #[test]
    fn results_read_back_as_themselves() {
        let br = Convention::onprem(Region::parse("BR").unwrap());
        assert_eq!(
            normalize("00002152477", &br).unwrap_err().code(),
            "invalid_phone"
        );
        assert_eq!(waha("8601100000"), Err("invalid_phone"));
    }

    #[test]
    fn huge_input_error_is_truncated() {
        let s = "x".repeat(10_000);
        let e = normalize(&s, &Convention::Waha).unwrap_err();
        assert_eq!(e.code(), "too_long");
        assert!(e.input().chars().count() <= 201);
    }

    #[test]
    fn parts() {
        let p = PhoneNumber::parse("+5511987654321").unwrap();
        assert_eq!(p.country_code(), 55);
        assert_eq!(p.national_number(), "11987654321");
        assert_eq!(p.len(), 13);
        assert_eq!(p.wa_id(), "5511987654321");
        assert_eq!(p.redacted(), "+55*********21");
        assert_eq!(p.region().unwrap().as_str(), "BR");
        assert_eq!(p.to_waha().to_string(), "5511987654321@c.us");
        assert_eq!(p.to_engine().to_string(), "5511987654321@s.whatsapp.net");
        let it = PhoneNumber::parse("+390612345678").unwrap();
        assert_eq!(it.national_number(), "0612345678");
        assert_eq!(it.country_code(), 39);
        assert_eq!(PhoneNumber::from_parts(39, "0612345678").unwrap(), it);
        assert_eq!(
            PhoneNumber::parse("+18005551234")
                .unwrap()
                .region()
                .unwrap()
                .as_str(),
            "US"
        );
    }

    #[test]
    fn region_parse() {
        assert_eq!("br".parse::<Region>().unwrap().as_str(), "BR");
        assert_eq!(Region::parse("BR").unwrap().country_code(), 55);
        assert_eq!(Region::parse("XX").unwrap_err().code(), "invalid_region");
        assert!(Region::parse("").is_err());
        assert!(Region::parse("BRA").is_err());
    }

    fn same(a: &Result<PhoneNumber, PhoneError>, b: &Result<PhoneNumber, PhoneError>) -> bool {
        match (a, b) {
            (Ok(x), Ok(y)) => x == y,
            (Err(x), Err(y)) => x.code() == y.code(),
            _ => false,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// The digit fast path agrees with phonenumber's parser whenever it answers.
        #[test]
        fn fast_path_agrees_with_the_parser(d in "[1-9][0-9]{2,17}") {
            if let Some(fast) = fast_international("x", &d) {
                let slow = slow_international("x", &d);
                proptest::prop_assert!(same(&fast, &slow), "{d}: fast {fast:?} slow {slow:?}");
            }
        }

        #[test]
        fn fast_path_agrees_for_busy_country_codes(
            cc in proptest::sample::select(vec!["1", "7", "20", "33", "39", "44", "49", "52", "521", "54", "549",
                "55", "86", "91", "234", "351", "380", "598", "880", "972", "800", "882"]),
            rest in "[0-9]{1,14}",
        ) {
            let d = format!("{cc}{rest}");
            proptest::prop_assume!(d.len() >= MIN_RAW_DIGITS);
            if let Some(fast) = fast_international("x", &d) {
                let slow = slow_international("x", &d);
                proptest::prop_assert!(same(&fast, &slow), "{d}: fast {fast:?} slow {slow:?}");
            }
        }
    }

    #[test]
    fn serde_round_trip() {
        let p = PhoneNumber::parse("+5511987654321").unwrap();
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(j, "\"+5511987654321\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>(&j).unwrap(), p);
        assert!(serde_json::from_str::<PhoneNumber>("\"abc\"").is_err());
    }
}
