//! The release binary must never carry a `danger-*` feature of whatsapp-rust: only the
//! `sandbox` feature and test builds may.

use std::process::Command;

fn tree(features: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO"));
    // Inverted on whatsapp-rust: every enabled feature of it is listed, with no
    // de-duplication hiding one.
    cmd.args([
        "tree",
        "-p",
        "wacontacts",
        "-e",
        "normal,features",
        "-i",
        "whatsapp-rust",
        "--prefix",
        "none",
    ]);
    for f in features {
        cmd.args(["--features", f]);
    }
    let out = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn default_build_has_no_danger_feature() {
    let text = tree(&[]);
    assert!(
        text.contains("whatsapp-rust"),
        "the tree lists the engine:\n{text}"
    );
    let danger: Vec<_> = text.lines().filter(|l| l.contains("danger-")).collect();
    assert!(
        danger.is_empty(),
        "danger features in the release tree: {danger:#?}"
    );
}

#[test]
fn sandbox_build_is_what_turns_it_on() {
    // Proves the check above can fail: the same query sees the feature when asked for.
    let text = tree(&["sandbox"]);
    assert!(
        text.lines()
            .any(|l| l.contains("danger-skip-cert-chain-verify")),
        "{text}"
    );
}
