//! Normalizing 100,000 mixed-format numbers.
//!
//! `cargo bench -p wacontacts-core --bench normalize` prints the throughput of each
//! group as `thrpt: … Kelem/s` (numbers per second).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wacontacts_core::ids::ContactRef;
use wacontacts_core::phone::{Convention, Region, candidates, normalize};

const N: usize = 100_000;

/// A small deterministic generator (no dependency, same inputs every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

/// What WAHA/Wawp/Whinself clients send: plain digits, `+` with separators, ids.
fn mixed_inputs() -> Vec<String> {
    let mut g = Lcg(42);
    (0..N)
        .map(|i| match i % 10 {
            0 => format!("55{}9{}", 11 + g.next() % 89, g.digits(8)),
            1 => format!(
                "+1 ({}{}) {}-{}",
                2 + g.next() % 8,
                g.digits(2),
                g.digits(3),
                g.digits(4)
            ),
            2 => format!("91{}{}", 6 + g.next() % 4, g.digits(9)),
            3 => format!(
                "{}@c.us",
                format_args!("44 7{}", g.digits(9))
                    .to_string()
                    .replace(' ', "")
            ),
            4 => format!("549{}{}@s.whatsapp.net", 11, g.digits(8)),
            5 => format!(
                "521{}:{}@s.whatsapp.net",
                g.digits(10).replacen('0', "5", 1),
                g.next() % 20
            ),
            6 => format!("+49 15{} {}", g.digits(2), g.digits(7)),
            7 => format!(
                "55{}{}",
                31 + g.next() % 60,
                format_args!("9{}", g.digits(7))
            ),
            8 => format!("{}@lid", g.digits(15)),
            _ => format!(
                "+33 6 {} {} {} {}",
                g.digits(2),
                g.digits(2),
                g.digits(2),
                g.digits(2)
            ),
        })
        .collect()
}

/// What On-Premises clients send for a US account: national numbers.
fn national_inputs() -> Vec<String> {
    let mut g = Lcg(7);
    (0..N)
        .map(|i| match i % 3 {
            0 => format!("{}{}{}", 2 + g.next() % 8, g.digits(2), g.digits(7)),
            1 => format!(
                "1-{}{}-{}-{}",
                2 + g.next() % 8,
                g.digits(2),
                g.digits(3),
                g.digits(4)
            ),
            _ => format!("+55 11 9{}-{}", g.digits(4), g.digits(4)),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mixed = mixed_inputs();
    let national = national_inputs();
    let plain: Vec<String> = mixed_inputs()
        .into_iter()
        .filter_map(|s| {
            ContactRef::parse(&s, &Convention::Waha)
                .ok()?
                .phone()
                .map(|p| p.wa_id())
        })
        .collect();
    let us = Convention::onprem(Region::parse("US").unwrap());

    let mut g = c.benchmark_group("normalize_100k");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(mixed.len() as u64));
    g.bench_function("contact_ref_mixed_waha", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for s in &mixed {
                ok += ContactRef::parse(black_box(s), &Convention::Waha).is_ok() as usize;
            }
            ok
        })
    });
    g.bench_function("contact_ref_mixed_waha_with_candidates", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for s in &mixed {
                if let Ok(ContactRef::Phone(p)) = ContactRef::parse(black_box(s), &Convention::Waha)
                {
                    n += candidates(&p).len();
                }
            }
            n
        })
    });

    g.throughput(Throughput::Elements(national.len() as u64));
    g.bench_function("onprem_national_us", |b| {
        b.iter(|| {
            national
                .iter()
                .filter(|s| normalize(black_box(s), &us).is_ok())
                .count()
        })
    });

    g.throughput(Throughput::Elements(plain.len() as u64));
    g.bench_function("plain_digits_waha", |b| {
        b.iter(|| {
            plain
                .iter()
                .filter(|s| normalize(black_box(s), &Convention::Waha).is_ok())
                .count()
        })
    });
    // Baseline: the phonenumber crate's own parser on the same digits.
    let plus: Vec<String> = plain.iter().map(|s| format!("+{s}")).collect();
    g.bench_function("baseline_phonenumber_parse", |b| {
        b.iter(|| {
            plus.iter()
                .filter(|s| phonenumber::parse(None, black_box(s)).is_ok())
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
