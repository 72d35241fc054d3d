//! Phone normalization: never panics, results are stable E.164, candidates lead back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wacontacts_core::phone::{Convention, PhoneNumber, Region, candidates, dialable, normalize};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let conventions = [
        Convention::Waha,
        Convention::OnPrem { own_region: None },
        Convention::onprem(Region::parse("US").unwrap()),
        Convention::onprem(Region::parse("AR").unwrap()),
        Convention::onprem(Region::parse("BR").unwrap()),
        Convention::onprem(Region::parse("GB").unwrap()),
    ];
    for c in &conventions {
        match normalize(s, c) {
            Ok(p) => {
                assert!(p.len() <= 15);
                let shown = p.to_string();
                assert_eq!(shown.parse::<PhoneNumber>().unwrap(), p, "{s:?} -> {shown}");
                assert_eq!(PhoneNumber::parse(&p.wa_id()).unwrap(), p);
                let cands = candidates(&p);
                assert_eq!(cands[0], p);
                for alt in &cands {
                    assert_eq!(alt.to_string().parse::<PhoneNumber>().unwrap(), *alt);
                    assert!(candidates(alt).contains(&p), "{p} -> {alt}");
                }
                let _ = dialable(&p);
            }
            Err(e) => {
                assert!(!e.code().is_empty());
            }
        }
    }
    let _ = Region::parse(s);
});
