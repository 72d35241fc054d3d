//! Number checks with the ban guard, end to end against wasim: what WhatsApp is asked
//! is read from wasim's own counters.

mod common;

use common::{Linked, assert_error_shape};
use serde_json::json;
use wasim::DirectoryUser;

const ME: &str = "15553330000";

fn number(i: u64) -> String {
    format!("1555{:07}", 4_000_000 + i)
}

async fn usync(linked: &Linked) -> (u64, u64) {
    linked.usync_counts(ME).await
}

/// WAHA's bulk check on session `default`: the answers, after asserting a 200.
async fn bulk_check(linked: &Linked, phones: &[String]) -> Vec<serde_json::Value> {
    let (status, answers) = linked
        .app
        .post_json(
            "/api/default/contacts/check-exists",
            json!({ "phones": phones }),
        )
        .await;
    assert_eq!(status, 200, "{answers}");
    answers.as_array().expect("an array of answers").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_checks_are_cached_batched_single_flight_and_budgeted() {
    let users = (0..100).map(|i| DirectoryUser::new(number(i))).collect();
    let linked = Linked::start(users).await;
    linked.link("default", ME).await;
    linked.set_check_budget("default", 20_000).await;

    let phones: Vec<String> = (0..1_000).map(number).collect();
    let before = usync(&linked).await;
    let answers = bulk_check(&linked, &phones).await;
    assert_eq!(answers.len(), 1_000);
    assert_eq!(answers[0]["phone"], number(0));
    assert_eq!(answers[0]["numberExists"], true);
    assert_eq!(answers[0]["chatId"], format!("{}@c.us", number(0)));
    assert!(answers[0]["lid"].as_str().unwrap().ends_with("@lid"));
    assert_eq!(answers[999]["numberExists"], false);
    let after = usync(&linked).await;
    assert!(
        after.0 - before.0 <= 10,
        "1,000 numbers in {} queries",
        after.0 - before.0
    );
    assert!(
        after.1 - before.1 <= 1_000,
        "{} users asked",
        after.1 - before.1
    );

    // The second pass costs WhatsApp nothing.
    assert_eq!(bulk_check(&linked, &phones).await.len(), 1_000);
    assert_eq!(usync(&linked).await, after, "no lookup on the second pass");
    // The single GET goes through the same cache.
    let (_, one) = linked
        .app
        .get_json(&format!("/api/contacts/check-exists?phone={}", number(1)))
        .await;
    assert_eq!(one["numberExists"], true);
    assert_eq!(usync(&linked).await, after);

    // 50 concurrent requests for one new number make one lookup.
    let fresh = number(5_000);
    let path = format!("/api/contacts/check-exists?phone={fresh}");
    let requests = (0..50).map(|_| linked.app.get_json(&path));
    for (status, body) in futures::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}");
    }
    let now = usync(&linked).await;
    assert_eq!(now.1 - after.1, 1, "one usync user for 50 requests");

    // Bad inputs get an error each; the rest are answered.
    let mixed = bulk_check(&linked, &[number(0), "abc".into()]).await;
    assert_eq!(mixed[0]["numberExists"], true);
    assert_eq!(mixed[1]["phone"], "abc");
    assert!(mixed[1]["error"]["code"].is_string(), "{mixed:?}");

    // A small budget: a burst over it is refused, and WhatsApp is not asked.
    linked.set_check_budget("default", 3).await;
    let (status, body) = linked
        .app
        .get_json("/api/default/contacts/check-exists/budget")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["budgetPerHour"], 3);
    assert_eq!(body["remaining"], 0, "1,001 lookups spent already: {body}");
    let before = usync(&linked).await;
    let response = linked
        .app
        .client
        .post(linked.app.url("/api/default/contacts/check-exists"))
        .json(&json!({"phones": [number(6_000)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(assert_error_shape(429, &body), "check_budget_exceeded");
    assert_eq!(usync(&linked).await, before, "refused before asking");

    // The counters, in /metrics too.
    let metrics = linked.app.get_text("/metrics").await;
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("wacontacts_{name}_total ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("check_lookups"), 1_001);
    assert_eq!(value("check_refusals"), 1);
    assert!(value("check_cache_hits") >= 1_000);

    // A restart does not refill the budget: the hour's lookups still count.
    let linked = linked.restart_app().await;
    linked.wait_status("default", "WORKING").await;
    let (_, body) = linked
        .app
        .get_json("/api/default/contacts/check-exists/budget")
        .await;
    assert_eq!(body["remaining"], 0, "after a restart: {body}");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapps_429_pauses_lookups() {
    let linked = Linked::start(vec![DirectoryUser::new(number(0))]).await;
    linked.link("default", ME).await;
    linked.rate_limit_next_usync().await;
    let check = |i: u64| {
        let url = linked
            .app
            .url(&format!("/api/contacts/check-exists?phone={}", number(i)));
        linked.app.client.get(url).send()
    };
    let response = check(0).await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // The fault is used up, but the session waits out the pause: WhatsApp is not asked.
    let before = usync(&linked).await;
    let response = check(1).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(usync(&linked).await, before);
    let (_, budget) = linked
        .app
        .get_json("/api/default/contacts/check-exists/budget")
        .await;
    assert!(budget["pausedForSecs"].as_u64().unwrap() > 0, "{budget}");
    linked.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_numbers_twice_cost_one_lookup_each() {
    let users = (0..500)
        .map(|i| DirectoryUser::new(number(i * 20)))
        .collect();
    let linked = Linked::start(users).await;
    linked.link("default", ME).await;
    linked.set_check_budget("default", 20_000).await;
    let phones: Vec<String> = (0..10_000).map(number).collect();
    let before = usync(&linked).await;
    for pass in 0..2 {
        let answers = bulk_check(&linked, &phones).await;
        assert_eq!(answers.len(), 10_000, "pass {pass}");
        let found = answers.iter().filter(|a| a["numberExists"] == true).count();
        assert_eq!(found, 500, "pass {pass}");
    }
    let after = usync(&linked).await;
    assert!(
        after.1 - before.1 <= 10_000,
        "at most one usync user per number over both passes: {}",
        after.1 - before.1
    );
    assert!(after.0 - before.0 <= 20, "{} queries", after.0 - before.0);
    linked.stop().await;
}
