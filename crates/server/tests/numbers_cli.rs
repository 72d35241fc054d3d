//! `wacontacts numbers normalize`, run as the built binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn wacontacts() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wacontacts"))
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn one_json_object_per_input() {
    let out = wacontacts()
        .args([
            "numbers",
            "normalize",
            "558591203123",
            "+1 (555) 123-4567",
            "15551234567:7@s.whatsapp.net",
            "15551234567%40c.us",
            "123456789012345@lid",
            "1234567890-123456@g.us",
            "abc",
            "",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = lines(&out.stdout);
    assert_eq!(l.len(), 8);
    assert_eq!(
        l[0],
        json!({"input": "558591203123", "e164": "+558591203123", "wa_id": "558591203123",
               "candidates": ["+558591203123", "+5585991203123"], "error": null})
    );
    for o in &l[1..=3] {
        assert_eq!(o["e164"], "+15551234567", "{o}");
        assert_eq!(o["wa_id"], "15551234567");
    }
    assert_eq!(l[4]["lid"], "123456789012345@lid");
    assert_eq!(l[4]["e164"], Value::Null);
    assert_eq!(l[5]["error"]["code"], "group_not_allowed");
    assert_eq!(l[6]["error"]["code"], "invalid_phone");
    assert_eq!(l[6]["input"], "abc");
    assert_eq!(l[7]["error"]["code"], "empty");
}

#[test]
fn onprem_reads_national_numbers_of_the_own_country() {
    for flags in [
        vec!["--own", "+919876543210"],
        vec!["--region", "IN"],
        vec!["--convention", "onprem", "--region", "in"],
    ] {
        let out = wacontacts()
            .args(["numbers", "normalize"])
            .args(&flags)
            .args(["6315551002", "1-631-555-1002", "+54 9 11 5612-1008"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let l = lines(&out.stdout);
        let e164: Vec<&Value> = l.iter().map(|o| &o["e164"]).collect();
        assert_eq!(
            e164,
            [
                &json!("+916315551002"),
                &json!("+9116315551002"),
                &json!("+5491156121008")
            ],
            "{flags:?}"
        );
    }
}

#[test]
fn reads_standard_input_when_no_inputs_are_given() {
    let mut child = wacontacts()
        .args(["numbers", "normalize", "--convention", "waha"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"5215512345678\r\n\n  \n541112345678\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let l = lines(&out.stdout);
    assert_eq!(l.len(), 2);
    assert_eq!(
        l[0]["candidates"],
        json!(["+5215512345678", "+525512345678"])
    );
    assert_eq!(
        l[1]["candidates"],
        json!(["+541112345678", "+5491112345678"])
    );
}

#[test]
fn bad_flags_fail_with_a_message() {
    for flags in [
        vec!["--region", "XX"],
        vec!["--own", "abc"],
        vec!["--convention", "waha", "--region", "BR"],
        vec!["--region", "BR", "--own", "+5511987654321"],
    ] {
        let out = wacontacts()
            .args(["numbers", "normalize"])
            .args(&flags)
            .arg("123")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?}");
        assert!(out.stdout.is_empty(), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--region") || err.contains("--own"),
            "{flags:?}: {err}"
        );
    }
}
