//! The admin HTTP API (what other crates' tests drive) and the standalone binary.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::Duration;
use whatsapp_rust::types::events::Event;

async fn post(http: &reqwest::Client, url: String, body: &Value) -> u16 {
    http.post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_drives_everything() {
    let wasim = start_wasim().await;
    let admin = wasim.admin_url();
    let http = reqwest::Client::new();

    // Upsert directory users; a LID is assigned when absent.
    assert_eq!(post(&http, format!("{admin}/users"), &json!({"users": [
            {"phone": "+1 555 000 5001", "pushName": "Eve", "about": "hi", "pictureId": "1700000501",
             "pictureUrl": "https://pps.example/eve.jpg", "business": true, "verifiedName": "Eve Co",
             "devices": [0, 2]},
            {"phone": "15550005002", "lid": "900000000005002", "aboutHidden": true, "pictureHidden": true}
        ]})).await, 200);
    let users: Value = http
        .get(format!("{admin}/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let eve = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["phone"] == "15550005001")
        .unwrap();
    assert!(eve["lid"].as_str().is_some_and(|l| !l.is_empty()));
    assert_eq!(eve["verifiedName"], "Eve Co");
    assert_eq!(eve["devices"], json!([0, 2]));

    // Bad input is a 400 (or 422 from the JSON extractor), never a 500.
    assert_eq!(
        post(
            &http,
            format!("{admin}/users"),
            &json!({"users": [{"phone": ""}]})
        )
        .await,
        400
    );
    let r = http
        .post(format!("{admin}/scan-qr"))
        .body("not a qr")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The phone scans the client's QR.
    let mut c = spawn_client(&wasim, memory_backend()).await;
    let qr = c.qr().await;
    let r = http
        .post(format!("{admin}/scan-qr?account=15551230050"))
        .body(qr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    c.connected().await;
    let accounts: Value = http
        .get(format!("{admin}/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["accounts"][0]["phone"], "15551230050");
    assert_eq!(accounts["accounts"][0]["devices"][0]["connected"], true);

    // Address book push.
    assert_eq!(
        post(
            &http,
            format!("{admin}/accounts/15551230050/contacts"),
            &json!({"phone": "15550005001", "fullName": "Eve Adams", "firstName": "Eve"})
        )
        .await,
        200
    );
    let name = c
        .wait_for("ContactUpdate", |e| match e {
            Event::ContactUpdate(u) => u.action.full_name.clone(),
            _ => None,
        })
        .await;
    assert_eq!(name, "Eve Adams");

    // Events.
    assert_eq!(
        post(
            &http,
            format!("{admin}/users/15550005001/events"),
            &json!({"type": "about", "about": "Busy"})
        )
        .await,
        200
    );
    let about = c
        .wait_for("UserAboutUpdate", |e| match e {
            Event::UserAboutUpdate(u) => Some(u.status.clone()),
            _ => None,
        })
        .await;
    assert_eq!(about, "Busy");
    assert_eq!(post(&http, format!("{admin}/users/15550005001/events"), &json!({"type": "picture", "pictureId": "1700000502", "pictureUrl": "https://pps.example/eve2.jpg"})).await, 200);
    c.wait_for("PictureUpdate", |e| {
        matches!(e, Event::PictureUpdate(_)).then_some(())
    })
    .await;
    assert_eq!(
        post(
            &http,
            format!("{admin}/users/15550005001/events"),
            &json!({"type": "pushName", "pushName": "Evie"})
        )
        .await,
        200
    );
    assert_eq!(
        post(
            &http,
            format!("{admin}/users/19999999999/events"),
            &json!({"type": "identity"})
        )
        .await,
        400
    );

    // Faults and stats.
    assert_eq!(
        post(
            &http,
            format!("{admin}/faults"),
            &json!({"kind": "usyncRateLimit", "count": 1})
        )
        .await,
        200
    );
    let jid: whatsapp_rust::Jid = "15550005001@s.whatsapp.net".parse().unwrap();
    assert!(
        c.client
            .contacts()
            .is_on_whatsapp(std::slice::from_ref(&jid))
            .await
            .is_err()
    );
    let res = c
        .client
        .contacts()
        .is_on_whatsapp(std::slice::from_ref(&jid))
        .await
        .unwrap();
    assert!(res[0].is_registered && res[0].is_business);
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let acc = &stats["accounts"]["15551230050"];
    assert!(acc["iq"]["usync"].as_u64().unwrap() >= 2, "{stats}");
    assert!(acc["usyncUsers"].as_u64().unwrap() >= 2, "{stats}");
    assert_eq!(
        post(
            &http,
            format!("{admin}/faults"),
            &json!({"kind": "logout", "account": "15551230050"})
        )
        .await,
        200
    );
    c.wait_for("LoggedOut", |e| {
        matches!(e, Event::LoggedOut(_)).then_some(())
    })
    .await;
    c.stop().await;
    wasim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_a_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        r#"{"users": [{"phone": "15550006001", "pushName": "Seeded"}, {"phone": "15550006002"}]}"#,
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasim"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut r = BufReader::new(stderr);
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap() == 0 {
                return None;
            }
            if line.contains("listening on") {
                return Some(line.clone());
            }
        }
    });
    let line = tokio::time::timeout(Duration::from_secs(20), line)
        .await
        .expect("binary starts")
        .unwrap()
        .expect("listening line");
    let addr = line
        .split("ws://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let users: Value = reqwest::get(format!("http://{addr}/admin/users"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    assert_eq!(users["users"][0]["pushName"], "Seeded");
    let _ = child.kill();
    let _ = child.wait();
}
