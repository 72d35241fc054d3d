//! whatsapp-rust JIDs ↔ our ids: the only module that knows both.

use wacontacts_core::ids::{ContactRef, Lid, PhoneNumber};
use whatsapp_rust::Jid;

/// True when `user` is 1–24 ASCII digits (what a phone or LID user part is).
fn all_digits(user: &str) -> bool {
    !user.is_empty() && user.len() <= 24 && user.bytes().all(|b| b.is_ascii_digit())
}

/// The phone number of a phone-number JID (`digits@s.whatsapp.net`, any device);
/// `None` for other servers or digits that are not a valid E.164 number.
pub(crate) fn phone(jid: &Jid) -> Option<PhoneNumber> {
    if !jid.is_pn() || !all_digits(&jid.user) {
        return None;
    }
    PhoneNumber::parse(&jid.user).ok()
}

/// The LID of a `digits@lid` JID (any device).
pub(crate) fn lid(jid: &Jid) -> Option<Lid> {
    if !jid.is_lid() || !all_digits(&jid.user) {
        return None;
    }
    Lid::parse(&format!("{}@lid", jid.user)).ok()
}

/// A person named by either JID form; `None` for groups, broadcasts, bots, etc.
pub(crate) fn contact_ref(jid: &Jid) -> Option<ContactRef> {
    phone(jid)
        .map(ContactRef::Phone)
        .or_else(|| lid(jid).map(ContactRef::Lid))
}

/// Digits of a phone number, without `+` (WhatsApp's user part).
pub(crate) fn digits(phone: &PhoneNumber) -> String {
    phone.wa_id()
}

/// `digits@s.whatsapp.net`.
pub(crate) fn phone_jid(phone: &PhoneNumber) -> Jid {
    Jid::pn(phone.wa_id())
}

/// `digits@lid`.
pub(crate) fn lid_jid(lid: &Lid) -> Jid {
    Jid::lid(lid.user())
}

/// The JID WhatsApp knows a person by, in the form given.
pub(crate) fn jid(who: &ContactRef) -> Jid {
    match who {
        ContactRef::Phone(p) => phone_jid(p),
        ContactRef::Lid(l) => lid_jid(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let pn: Jid = "5511987654321:7@s.whatsapp.net".parse().unwrap();
        let phone = phone(&pn).unwrap();
        assert_eq!(phone.wa_id(), "5511987654321");
        assert_eq!(
            phone_jid(&phone).to_string(),
            "5511987654321@s.whatsapp.net"
        );
        assert!(lid(&pn).is_none());

        let l: Jid = "123456789012345@lid".parse().unwrap();
        let lid = lid(&l).unwrap();
        assert_eq!(lid.to_string(), "123456789012345@lid");
        assert_eq!(lid_jid(&lid), l);
        assert_eq!(contact_ref(&l), Some(ContactRef::Lid(lid.clone())));
        assert_eq!(jid(&ContactRef::Lid(lid)), l);
    }

    #[test]
    fn non_persons_are_none() {
        for s in ["123-456@g.us", "status@broadcast", "123@newsletter"] {
            let j: Jid = s.parse().unwrap();
            assert_eq!(contact_ref(&j), None, "{s}");
        }
    }
}
