//! Property tests: Display/parse round trips, and no parser panics on any string.

use proptest::prelude::*;
use wacontacts_core::ids::{ContactRef, Jid, Lid, Server};
use wacontacts_core::phone::{Convention, PhoneNumber, Region, candidates, dialable, normalize};

fn conventions() -> Vec<Convention> {
    vec![
        Convention::Waha,
        Convention::OnPrem { own_region: None },
        Convention::onprem(Region::parse("BR").unwrap()),
        Convention::onprem(Region::parse("US").unwrap()),
        Convention::onprem(Region::parse("AR").unwrap()),
        Convention::onprem(Region::parse("IN").unwrap()),
        Convention::onprem(Region::parse("DE").unwrap()),
        Convention::onprem(Region::parse("GB").unwrap()),
        Convention::onprem(Region::parse("MX").unwrap()),
    ]
}

/// Everything that parses strings, on one input; returns nothing, must not panic.
fn parse_everything(s: &str) {
    for c in conventions() {
        if let Ok(p) = normalize(s, &c) {
            let _ = candidates(&p);
            let _ = dialable(&p);
        }
        let _ = ContactRef::parse(s, &c);
    }
    let _ = Jid::parse(s);
    let _ = Lid::parse(s);
    let _ = Region::parse(s);
    let _ = s.parse::<PhoneNumber>();
}

/// Strings made of what phone numbers and ids are made of, so that the parsers get
/// past their first checks.
fn phoneish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            8 => "[0-9]{1,4}",
            1 => Just("+".to_owned()),
            1 => Just(" ".to_owned()),
            1 => Just("-".to_owned()),
            1 => Just("(".to_owned()),
            1 => Just(")".to_owned()),
            1 => Just("@".to_owned()),
            1 => Just("%40".to_owned()),
            1 => Just(":".to_owned()),
            1 => Just(".".to_owned()),
            1 => Just("_".to_owned()),
            1 => Just("ext. ".to_owned()),
            1 => Just("x".to_owned()),
            1 => Just("#".to_owned()),
            1 => Just("tel:".to_owned()),
            1 => Just(";ext=".to_owned()),
            1 => Just(";phone-context=+1".to_owned()),
            1 => Just("00".to_owned()),
            1 => Just("０１９".to_owned()),
            1 => Just("٣".to_owned()),
            1 => Just("é".to_owned()),
            1 => proptest::sample::select(Server::ALL.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>()),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn jid_strategy() -> impl Strategy<Value = Jid> {
    let server = proptest::sample::select(Server::ALL.to_vec());
    (
        server,
        "[0-9]{1,18}",
        "[0-9]{1,10}",
        any::<bool>(),
        any::<u8>(),
        any::<u16>(),
        0..3u8,
    )
        .prop_map(|(server, a, b, dash, agent, device, shape)| {
            let user = match server {
                Server::Group if dash => format!("{a}-{b}"),
                Server::Broadcast if dash => "status".to_owned(),
                _ => a,
            };
            let s = match shape {
                0 => format!("{user}@{server}"),
                1 => format!("{user}:{device}@{server}"),
                _ => format!("{user}.{agent}:{device}@{server}"),
            };
            Jid::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_panic_on_arbitrary_strings(s in any::<String>()) {
        parse_everything(&s);
    }

    #[test]
    fn no_panic_on_phoneish_strings(s in phoneish()) {
        parse_everything(&s);
    }

    #[test]
    fn no_panic_on_huge_strings(s in "[0-9+ @%a-z\u{0660}-\u{0669}]{200,3000}") {
        parse_everything(&s);
    }

    #[test]
    fn jid_display_round_trips(j in jid_strategy()) {
        let shown = j.to_string();
        let back = Jid::parse(&shown).unwrap();
        prop_assert_eq!(&back, &j);
        prop_assert_eq!(back.to_string(), shown);
        prop_assert_eq!(Jid::parse(&j.to_engine().to_string()).unwrap(), j.to_engine());
        prop_assert_eq!(Jid::parse(&j.to_waha().to_string()).unwrap(), j.to_waha());
        let json = serde_json::to_string(&j).unwrap();
        prop_assert_eq!(serde_json::from_str::<Jid>(&json).unwrap(), j);
    }

    #[test]
    fn phone_display_round_trips(s in phoneish(), ci in 0..9usize) {
        let c = conventions()[ci];
        if let Ok(p) = normalize(&s, &c) {
            prop_assert_eq!(p.to_string().parse::<PhoneNumber>().unwrap(), p);
            prop_assert_eq!(PhoneNumber::parse(&p.wa_id()).unwrap(), p);
            prop_assert_eq!(normalize(&p.to_string(), &c).unwrap(), p);
            prop_assert!(p.len() <= 15);
            prop_assert_eq!(format!("{}{}", p.country_code(), p.national_number()), p.wa_id());
            let json = serde_json::to_string(&p).unwrap();
            prop_assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), p);
            let cands = candidates(&p);
            prop_assert_eq!(cands[0], p);
            for alt in &cands {
                // Every candidate is a number in its own right, and leads back.
                prop_assert_eq!(alt.to_string().parse::<PhoneNumber>().unwrap(), *alt);
                prop_assert!(candidates(alt).contains(&p), "{} -> {} does not lead back", p, alt);
            }
        }
    }

    #[test]
    fn digit_strings_round_trip(d in "[1-9][0-9]{5,14}") {
        if let Ok(p) = d.parse::<PhoneNumber>() {
            prop_assert_eq!(p.to_string().parse::<PhoneNumber>().unwrap(), p);
            prop_assert_eq!(PhoneNumber::parse(&p.wa_id()).unwrap(), p);
        }
    }

    #[test]
    fn contact_ref_round_trips(s in phoneish()) {
        if let Ok(r) = ContactRef::parse(&s, &Convention::Waha) {
            prop_assert_eq!(r.to_string().parse::<ContactRef>().unwrap(), r.clone());
            prop_assert_eq!(ContactRef::from_jid(&r.to_engine()).unwrap(), r.clone());
            prop_assert_eq!(ContactRef::from_jid(&r.to_waha()).unwrap(), r.clone());
        }
    }

    #[test]
    fn lid_round_trips(user in "[0-9]{1,24}", device in any::<u16>()) {
        let l = Lid::parse(&format!("{user}:{device}@lid")).unwrap();
        prop_assert_eq!(l.user(), user.as_str());
        prop_assert_eq!(l.to_string().parse::<Lid>().unwrap(), l);
    }
}
