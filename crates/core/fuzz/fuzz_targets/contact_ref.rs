//! ContactRef / Jid / Lid parsing: never panics, and whatever parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wacontacts_core::ids::{ContactRef, Jid, Lid};
use wacontacts_core::phone::{Convention, Region};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let conventions = [
        Convention::Waha,
        Convention::OnPrem { own_region: None },
        Convention::onprem(Region::parse("BR").unwrap()),
        Convention::onprem(Region::parse("IN").unwrap()),
    ];
    for c in &conventions {
        if let Ok(r) = ContactRef::parse(s, c) {
            let shown = r.to_string();
            assert_eq!(shown.parse::<ContactRef>().unwrap(), r, "{s:?} -> {shown}");
            assert_eq!(ContactRef::from_jid(&r.to_engine()).unwrap(), r);
            assert_eq!(ContactRef::from_jid(&r.to_waha()).unwrap(), r);
        } else if let Err(e) = ContactRef::parse(s, c) {
            assert!(!e.code().is_empty());
        }
    }
    if let Ok(j) = Jid::parse(s) {
        let shown = j.to_string();
        assert_eq!(Jid::parse(&shown).unwrap(), j, "{s:?} -> {shown}");
        assert_eq!(
            Jid::parse(&j.to_engine().to_string()).unwrap(),
            j.to_engine()
        );
    }
    if let Ok(l) = Lid::parse(s) {
        assert_eq!(l.to_string().parse::<Lid>().unwrap(), l);
    }
});
