//! Country variants that WhatsApp resolves: one person, two spellings.
//!
//! * **Brazil** (`+55`): mobiles got a 9th digit (2012-2016), but WhatsApp ids of
//!   older accounts often keep the 8-digit form: `+55 85 9120-3123` (12 digits) and
//!   `+55 85 99120-3123` (13 digits) may be the same person.
//! * **Mexico** (`+52`): mobiles used to be dialled from abroad as `+52 1 …`; WhatsApp
//!   knows both `521XXXXXXXXXX` and `52XXXXXXXXXX`.
//! * **Argentina** (`+54`): mobiles are `+54 9 <area> <number>` internationally; the
//!   same number without the `9` is what people often write.
//!
//! [`candidates`] gives the forms worth asking WhatsApp about; the canonical id is
//! whatever WhatsApp answers. The other functions are heuristics for display and for
//! callers that cannot ask.

use super::PhoneNumber;

/// The forms of `number` to ask WhatsApp about, the given form first, then the
/// alternate spelling if the country has one (Brazilian mobiles with/without the 9th
/// digit, Mexican `52`/`521`, Argentine `54`/`549` for geographic numbers). Other
/// numbers give just `[number]`.
///
/// ```
/// use wacontacts_core::phone::{candidates, PhoneNumber};
/// let n: PhoneNumber = "558591203123".parse().unwrap();
/// let c: Vec<String> = candidates(&n).iter().map(|p| p.wa_id()).collect();
/// assert_eq!(c, ["558591203123", "5585991203123"]);
/// ```
pub fn candidates(number: &PhoneNumber) -> Vec<PhoneNumber> {
    let mut out = Vec::with_capacity(2);
    out.push(*number);
    let alt = match number.country_code() {
        55 => brazil::alternate(number),
        52 => mexico::alternate(number),
        54 => argentina::alternate(number),
        _ => None,
    };
    if let Some(alt) = alt
        && alt != *number
    {
        out.push(alt);
    }
    out
}

/// The number as a person dials it today: a Brazilian mobile without the 9th digit
/// gets it back (`+558591203123` → `+5585991203123`), a Mexican `+521…` loses the
/// obsolete `1` (`+5215512345678` → `+525512345678`). Everything else is unchanged.
/// This is for display; WhatsApp ids keep their own form.
pub fn dialable(number: &PhoneNumber) -> PhoneNumber {
    match number.country_code() {
        55 => brazil::with_ninth_digit(number).unwrap_or(*number),
        52 => mexico::without_one(number).unwrap_or(*number),
        _ => *number,
    }
}

/// Lengths above the metadata's maximum that WhatsApp still uses: Mexico's `521`
/// mobiles (11-digit national numbers starting with `1`).
pub(super) fn longer_form_allowed(country_code: u16, national: &str) -> bool {
    country_code == 52 && national.len() == 11 && national.starts_with('1')
}

fn with_national(country_code: u16, national: &str) -> Option<PhoneNumber> {
    PhoneNumber::assemble(country_code, national)
}

/// Brazil (`+55`): area code (DDD) + 8-digit landline or 9-digit mobile.
pub mod brazil {
    use super::{PhoneNumber, with_national};

    /// Brazilian area codes (DDD) in use.
    const DDD: [u8; 67] = [
        11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42,
        43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74,
        75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
    ];

    /// What a `+55` number is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// DDD + 9 digits starting with 9 (`ninth_digit: true`), or DDD + 8 digits
        /// starting with 6-9, the form from before the 9th digit (`ninth_digit: false`).
        Mobile {
            /// Whether the 9th digit is there.
            ninth_digit: bool,
        },
        /// DDD + 8 digits starting with 2-5.
        Landline,
        /// `0800` numbers (`+55 800 …`).
        TollFree,
        /// Anything else (`0300`/`0303` shared cost, `4004` numbers, unknown DDD).
        Other,
    }

    /// Splits a national number into DDD and subscriber if the DDD is in use.
    fn split(number: &PhoneNumber) -> Option<(u8, String)> {
        if number.country_code() != 55 {
            return None;
        }
        let national = number.national_number();
        let ddd: u8 = national.get(..2)?.parse().ok()?;
        DDD.contains(&ddd).then(|| (ddd, national[2..].to_owned()))
    }

    /// `None` for non-Brazilian numbers.
    pub fn kind(number: &PhoneNumber) -> Option<Kind> {
        if number.country_code() != 55 {
            return None;
        }
        if number.national_number().starts_with("800") {
            return Some(Kind::TollFree);
        }
        let Some((_, sub)) = split(number) else {
            return Some(Kind::Other);
        };
        let first = sub.as_bytes().first().copied().unwrap_or(b'0');
        Some(match (sub.len(), first) {
            (9, b'9') => Kind::Mobile { ninth_digit: true },
            (8, b'6'..=b'9') => Kind::Mobile { ninth_digit: false },
            (8, b'2'..=b'5') => Kind::Landline,
            _ => Kind::Other,
        })
    }

    /// A mobile without the 9th digit, with it (`+558591203123` → `+5585991203123`).
    pub fn with_ninth_digit(number: &PhoneNumber) -> Option<PhoneNumber> {
        if kind(number) != Some(Kind::Mobile { ninth_digit: false }) {
            return None;
        }
        let (ddd, sub) = split(number)?;
        with_national(55, &format!("{ddd}9{sub}"))
    }

    /// A mobile with the 9th digit, without it (`+5585991203123` → `+558591203123`),
    /// when the rest has the shape of an old 8-digit mobile (starting with 6-9).
    pub fn without_ninth_digit(number: &PhoneNumber) -> Option<PhoneNumber> {
        if kind(number) != Some(Kind::Mobile { ninth_digit: true }) {
            return None;
        }
        let (ddd, sub) = split(number)?;
        if !matches!(sub.as_bytes().get(1), Some(b'6'..=b'9')) {
            return None;
        }
        with_national(55, &format!("{ddd}{}", &sub[1..]))
    }

    /// The other spelling of a mobile, if any.
    pub fn alternate(number: &PhoneNumber) -> Option<PhoneNumber> {
        with_ninth_digit(number).or_else(|| without_ninth_digit(number))
    }

    /// WAHA's heuristic: a mobile written without the 9th digit in an area where
    /// WhatsApp ids may or may not have it (DDD 31 and above) cannot be guessed; ask
    /// WhatsApp. Mobiles with the 9th digit, landlines and DDD 11-28 need no lookup.
    pub fn needs_lookup(number: &PhoneNumber) -> bool {
        kind(number) == Some(Kind::Mobile { ninth_digit: false })
            && split(number).is_some_and(|(ddd, _)| ddd >= 31)
    }

    /// WAHA's guess of the WhatsApp id when nobody can ask: in DDD 11-28 (where the
    /// 9th digit came first) a mobile without it gets it; everything else stays.
    pub fn send_form(number: &PhoneNumber) -> PhoneNumber {
        match split(number) {
            Some((ddd, _)) if ddd <= 28 => with_ninth_digit(number).unwrap_or(*number),
            _ => *number,
        }
    }
}

/// Mexico (`+52`): 10-digit national numbers; WhatsApp also knows `521` + 10 digits.
pub mod mexico {
    use super::{PhoneNumber, with_national};

    /// `+52XXXXXXXXXX` → `+521XXXXXXXXXX`.
    pub fn with_one(number: &PhoneNumber) -> Option<PhoneNumber> {
        let national = number.national_number();
        (number.country_code() == 52 && national.len() == 10)
            .then(|| with_national(52, &format!("1{national}")))?
    }

    /// `+521XXXXXXXXXX` → `+52XXXXXXXXXX`.
    pub fn without_one(number: &PhoneNumber) -> Option<PhoneNumber> {
        let national = number.national_number();
        (number.country_code() == 52 && national.len() == 11 && national.starts_with('1'))
            .then(|| with_national(52, &national[1..]))?
    }

    /// The other spelling, if any.
    pub fn alternate(number: &PhoneNumber) -> Option<PhoneNumber> {
        with_one(number).or_else(|| without_one(number))
    }
}

/// Argentina (`+54`): geographic numbers are area code + subscriber, 10 digits,
/// starting with 1 (Buenos Aires), 2 or 3; mobiles put a `9` in front internationally.
pub mod argentina {
    use super::{PhoneNumber, with_national};

    fn geographic(national: &str) -> bool {
        national.len() == 10 && matches!(national.as_bytes()[0], b'1'..=b'3')
    }

    /// `+541112345678` → `+5491112345678` (geographic numbers only).
    pub fn with_nine(number: &PhoneNumber) -> Option<PhoneNumber> {
        let national = number.national_number();
        (number.country_code() == 54 && geographic(&national))
            .then(|| with_national(54, &format!("9{national}")))?
    }

    /// `+5491112345678` → `+541112345678`.
    pub fn without_nine(number: &PhoneNumber) -> Option<PhoneNumber> {
        let national = number.national_number();
        let rest = national.strip_prefix('9')?;
        (number.country_code() == 54 && geographic(rest)).then(|| with_national(54, rest))?
    }

    /// The other spelling, if any.
    pub fn alternate(number: &PhoneNumber) -> Option<PhoneNumber> {
        with_nine(number).or_else(|| without_nine(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PhoneNumber {
        s.parse().unwrap()
    }
    fn ids(v: Vec<PhoneNumber>) -> Vec<String> {
        v.iter().map(|p| p.wa_id()).collect()
    }

    #[test]
    fn brazil() {
        assert_eq!(
            ids(candidates(&p("558591203123"))),
            ["558591203123", "5585991203123"]
        );
        assert_eq!(
            ids(candidates(&p("5585991203123"))),
            ["5585991203123", "558591203123"]
        );
        assert_eq!(ids(candidates(&p("558540423147"))), ["558540423147"]);
        assert_eq!(ids(candidates(&p("558000464636"))), ["558000464636"]);
        // Without the 9, "00000190" would not be an old mobile: no alternate.
        assert_eq!(ids(candidates(&p("5511900000190"))), ["5511900000190"]);
        assert_eq!(
            brazil::kind(&p("558000464636")),
            Some(brazil::Kind::TollFree)
        );
        assert_eq!(brazil::kind(&p("15551234567")), None);
        assert_eq!(dialable(&p("558591203123")).wa_id(), "5585991203123");
        assert_eq!(dialable(&p("558540423147")).wa_id(), "558540423147");
    }

    #[test]
    fn mexico_and_argentina() {
        assert_eq!(
            ids(candidates(&p("525512345678"))),
            ["525512345678", "5215512345678"]
        );
        assert_eq!(
            ids(candidates(&p("5215512345678"))),
            ["5215512345678", "525512345678"]
        );
        assert_eq!(dialable(&p("5215512345678")).wa_id(), "525512345678");
        assert_eq!(
            ids(candidates(&p("541112345678"))),
            ["541112345678", "5491112345678"]
        );
        assert_eq!(
            ids(candidates(&p("5491112345678"))),
            ["5491112345678", "541112345678"]
        );
        assert_eq!(ids(candidates(&p("548001234567"))), ["548001234567"]);
        assert_eq!(ids(candidates(&p("15551234567"))), ["15551234567"]);
    }
}
