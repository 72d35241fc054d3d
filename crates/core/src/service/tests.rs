//! The services' rules, over fakes of every port and a fake clock.

use std::time::Duration;

use crate::contact::{ProfilePicture, UserInfo};
use crate::ids::ContactRef;
use crate::ports::DirectoryError;
use crate::service::fakes::{World, lid, phone};
use crate::service::{ContactError, SessionError};
use crate::session::SessionStatus;

fn alice() -> ContactRef {
    ContactRef::Phone(phone("15550100001"))
}

fn picture(url: &str) -> ProfilePicture {
    ProfilePicture {
        id: "1".into(),
        url: url.into(),
        direct_path: None,
    }
}

fn count(w: &World, call: &str) -> usize {
    w.directory
        .calls()
        .iter()
        .filter(|c| c.starts_with(call))
        .count()
}

#[tokio::test]
async fn about_is_served_from_the_store_until_the_ttl_and_fetched_at_it() {
    let w = World::new(SessionStatus::Working).await;
    let ttl = w.sessions.policy().profile_ttl;
    *w.directory.info.lock().unwrap() = Some(Ok(UserInfo {
        about: Some("first".into()),
        ..UserInfo::default()
    }));
    let s = &w.session;
    assert_eq!(
        w.contacts
            .about(s, &alice(), false)
            .await
            .unwrap()
            .as_deref(),
        Some("first")
    );
    *w.directory.info.lock().unwrap() = Some(Ok(UserInfo {
        about: Some("second".into()),
        ..UserInfo::default()
    }));
    w.clock.advance(ttl - Duration::from_millis(1));
    assert_eq!(
        w.contacts
            .about(s, &alice(), false)
            .await
            .unwrap()
            .as_deref(),
        Some("first"),
        "just before the TTL: the store answers"
    );
    assert_eq!(count(&w, "user_info"), 1);
    w.clock.advance(Duration::from_millis(1));
    assert_eq!(
        w.contacts
            .about(s, &alice(), false)
            .await
            .unwrap()
            .as_deref(),
        Some("second"),
        "at the TTL: WhatsApp is asked again"
    );
    assert_eq!(count(&w, "user_info"), 2);
    assert_eq!(
        w.contacts
            .about(s, &alice(), true)
            .await
            .unwrap()
            .as_deref(),
        Some("second")
    );
    assert_eq!(count(&w, "user_info"), 3, "refresh skips the cache");
}

#[tokio::test]
async fn picture_is_cached_for_the_ttl() {
    let w = World::new(SessionStatus::Working).await;
    let ttl = w.sessions.policy().profile_ttl;
    let s = &w.session;
    *w.directory.picture.lock().unwrap() = Some(Ok(Some(picture("https://a"))));
    assert_eq!(
        w.contacts
            .picture_url(s, &alice(), false)
            .await
            .unwrap()
            .as_deref(),
        Some("https://a")
    );
    w.clock.advance(ttl - Duration::from_millis(1));
    w.contacts.picture_url(s, &alice(), false).await.unwrap();
    assert_eq!(count(&w, "profile_picture"), 1);
    w.clock.advance(Duration::from_millis(1));
    w.contacts.picture_url(s, &alice(), false).await.unwrap();
    assert_eq!(count(&w, "profile_picture"), 2);
}

#[tokio::test]
async fn hidden_and_missing_about_and_picture_are_all_none_and_cached() {
    let w = World::new(SessionStatus::Working).await;
    let s = &w.session;
    for answer in [
        Err(DirectoryError::HiddenByPrivacy),
        Ok(UserInfo::default()),
    ] {
        *w.directory.info.lock().unwrap() = Some(answer);
        assert_eq!(w.contacts.about(s, &alice(), true).await.unwrap(), None);
    }
    *w.directory.info.lock().unwrap() = None; // WhatsApp said nothing of the user
    assert_eq!(w.contacts.about(s, &alice(), true).await.unwrap(), None);
    for answer in [
        Err(DirectoryError::HiddenByPrivacy),
        Err(DirectoryError::NotFound),
        Ok(None),
    ] {
        *w.directory.picture.lock().unwrap() = Some(answer);
        assert_eq!(
            w.contacts.picture_url(s, &alice(), true).await.unwrap(),
            None
        );
    }
    let stored = w.store.contact(&alice()).unwrap();
    assert!(stored.about_fetched_ms.is_some() && stored.picture_fetched_ms.is_some());
    // Other failures stay errors.
    *w.directory.info.lock().unwrap() = Some(Err(DirectoryError::Timeout));
    assert!(matches!(
        w.contacts.about(s, &alice(), true).await,
        Err(ContactError::Directory(DirectoryError::Timeout))
    ));
}

#[tokio::test]
async fn block_of_a_number_without_a_known_lid_learns_it_first() {
    let w = World::new(SessionStatus::Working).await;
    let s = &w.session;
    let l = lid("111222333@lid");
    w.directory
        .registered
        .lock()
        .unwrap()
        .insert(phone("15550100001"), Some(l.clone()));
    w.contacts.set_blocked(s, &alice(), true).await.unwrap();
    assert_eq!(
        w.directory.calls(),
        [
            "known_lids 1",
            "is_on_whatsapp 1",
            "block 111222333@lid Some(\"+15550100001\")"
        ]
    );
    assert_eq!(
        w.store.lids.lock().unwrap().get(&phone("15550100001")),
        Some(&l),
        "the learned LID is written back"
    );
    assert!(
        w.store
            .blocked
            .lock()
            .unwrap()
            .contains(&ContactRef::Lid(l.clone()))
    );

    // Known now: unblock asks nothing but the unblock itself.
    w.directory.calls.lock().unwrap().clear();
    w.contacts.set_blocked(s, &alice(), false).await.unwrap();
    assert_eq!(w.directory.calls(), ["unblock 111222333@lid"]);
    assert!(w.store.blocked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn block_of_a_number_not_on_whatsapp_is_not_found() {
    let w = World::new(SessionStatus::Working).await;
    let err = w
        .contacts
        .set_blocked(&w.session, &alice(), true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ContactError::Directory(DirectoryError::NotFound)),
        "{err:?}"
    );
    assert_eq!(count(&w, "block"), 0);
}

#[tokio::test]
async fn every_directory_answer_is_written_back() {
    let w = World::new(SessionStatus::Working).await;
    let s = &w.session;
    let (a, b) = (phone("15550100001"), phone("15550100002"));
    let (la, lb) = (lid("1001@lid"), lid("1002@lid"));
    w.directory
        .registered
        .lock()
        .unwrap()
        .insert(a, Some(la.clone()));
    let found = w.contacts.check_exists(s, &a).await.unwrap();
    assert!(found.exists && found.lid == Some(la.clone()));
    assert_eq!(
        w.store.lids.lock().unwrap().get(&a),
        Some(&la),
        "check-exists"
    );

    w.directory
        .client_cache
        .lock()
        .unwrap()
        .insert(b, lb.clone());
    let lids = w.contacts.lids_for_phones(s, &[a, b]).await.unwrap();
    assert_eq!(lids, [(a, Some(la.clone())), (b, Some(lb.clone()))]);
    assert_eq!(
        w.store.lids.lock().unwrap().get(&b),
        Some(&lb),
        "client cache"
    );
    assert_eq!(
        count(&w, "known_lids"),
        1,
        "one directory call for the batch"
    );

    w.store.lids.lock().unwrap().remove(&b);
    assert_eq!(w.contacts.phone_for_lid(s, &lb).await.unwrap(), Some(b));
    assert_eq!(
        w.store.lids.lock().unwrap().get(&b),
        Some(&lb),
        "phone of a LID"
    );

    *w.directory.info.lock().unwrap() = Some(Ok(UserInfo {
        lid: Some(la.clone()),
        about: Some("hi".into()),
        is_business: true,
        verified_name: Some("Biz".into()),
        ..UserInfo::default()
    }));
    w.contacts
        .about(s, &ContactRef::Phone(a), true)
        .await
        .unwrap();
    let stored = w.store.contact(&ContactRef::Phone(a)).unwrap();
    assert_eq!(stored.about.as_deref(), Some("hi"));
    assert!(stored.is_business);
    assert_eq!(stored.verified_name.as_deref(), Some("Biz"));

    w.contacts
        .save(s, &ContactRef::Lid(la.clone()), "Ada", "Lovelace")
        .await
        .unwrap();
    assert_eq!(
        w.directory.calls().last().unwrap(),
        "save +15550100001 Ada Lovelace"
    );
    let saved = w.store.saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].phone, Some(a));
    assert_eq!(saved[0].lid, Some(la));
    assert_eq!(saved[0].full_name.as_deref(), Some("Ada Lovelace"));
}

#[tokio::test]
async fn contact_calls_need_a_working_session() {
    let w = World::new(SessionStatus::Stopped).await;
    let err = w
        .contacts
        .about(&w.session, &alice(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ContactError::Session(SessionError::NotWorking {
                status: SessionStatus::Stopped,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(w.directory.calls().is_empty());
}

#[tokio::test]
async fn a_starting_session_is_waited_for_within_the_patience() {
    let w = World::new(SessionStatus::Starting).await;
    let start = w.clock.now_ms_for_test();
    let err = w.contacts.lid_count(&w.session).await.unwrap_err();
    assert!(matches!(
        err,
        ContactError::Session(SessionError::NotWorking {
            status: SessionStatus::Starting,
            ..
        })
    ));
    let waited = w.clock.now_ms_for_test() - start;
    let patience = w.sessions.policy().starting_patience.as_millis() as i64;
    assert!(waited >= patience && waited <= patience + 100, "{waited}");

    *w.runtime.script.lock().unwrap() = vec![
        SessionStatus::Starting,
        SessionStatus::Starting,
        SessionStatus::Working,
    ];
    assert_eq!(w.contacts.lid_count(&w.session).await.unwrap(), 0);
}

#[tokio::test]
async fn unknown_contact_is_contact_not_found() {
    let w = World::new(SessionStatus::Working).await;
    let err = w.contacts.get(&w.session, &alice()).await.unwrap_err();
    assert!(matches!(err, ContactError::ContactNotFound(who) if who == alice()));
}

mod checks {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use futures::future::join_all;

    use crate::ids::PhoneNumber;
    use crate::policy::CheckPolicy;
    use crate::ports::{DirectoryError, Spawner, Task};
    use crate::service::fakes::{World, lid, phone};
    use crate::service::{CheckService, ContactError};
    use crate::session::SessionStatus;
    use crate::username::{CheckKey, Username, UsernamePin, UsernameQuery};

    struct TokioSpawner;

    impl Spawner for TokioSpawner {
        fn spawn(&self, task: Task) {
            tokio::spawn(task);
        }
    }

    fn service(w: &World, policy: CheckPolicy) -> CheckService {
        CheckService::new(
            w.store.clone(),
            w.sessions.clone(),
            Arc::new(TokioSpawner),
            policy,
        )
    }

    fn numbers(n: u64) -> Vec<PhoneNumber> {
        phones_from(2_000_000, n)
    }

    fn phones_from(first: u64, n: u64) -> Vec<PhoneNumber> {
        (0..n)
            .map(|i| phone(&format!("1555{:07}", first + i)))
            .collect()
    }

    fn keys(phones: &[PhoneNumber]) -> Vec<CheckKey> {
        phones.iter().map(|p| CheckKey::Phone(*p)).collect()
    }

    fn username(s: &str, pin: Option<&str>) -> CheckKey {
        CheckKey::Username(UsernameQuery {
            username: Username::parse(s).unwrap(),
            pin: pin.map(|p| UsernamePin::parse(p).unwrap()),
        })
    }

    #[tokio::test]
    async fn usernames_take_the_same_path_cache_pin_and_budget() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        w.directory.usernames.lock().unwrap().insert(
            Username::parse("alice").unwrap(),
            (lid("700@lid"), Some(UsernamePin::parse("1234").unwrap())),
        );
        w.directory
            .usernames
            .lock()
            .unwrap()
            .insert(Username::parse("bob").unwrap(), (lid("701@lid"), None));
        let asked = [
            username("alice", Some("1234")),
            username("alice", Some("9999")),
            username("alice", None),
            username("bob", None),
            username("nobody", None),
            CheckKey::Phone(phone("15550009999")),
        ];
        let first = checks.check(&w.session, &asked, false).await.unwrap();
        let found: Vec<bool> = first.iter().map(|e| e.exists).collect();
        assert_eq!(found, [true, false, false, true, false, false]);
        assert_eq!(first[0].lid, Some(lid("700@lid")));
        assert_eq!(
            first[0].username.as_ref().map(|u| u.as_str()),
            Some("alice")
        );
        assert_eq!(first[0].phone, None, "WhatsApp did not tell the number");
        let calls = w.directory.calls();
        assert!(calls.contains(&"find_usernames 5".to_string()), "{calls:?}");
        assert!(calls.contains(&"is_on_whatsapp 1".to_string()), "{calls:?}");
        let again = checks.check(&w.session, &asked, false).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(
            w.directory.calls().len(),
            calls.len(),
            "served from the cache"
        );
        let status = checks.budget(&w.session).await.unwrap();
        assert_eq!(status.remaining, 200 - 6);
        assert_eq!(status.stats.cache_hits, 6);
    }

    fn queries(w: &World) -> Vec<String> {
        w.directory
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("is_on_whatsapp"))
            .collect()
    }

    #[tokio::test]
    async fn partial_checks_answer_what_the_budget_allows_in_input_order() {
        let w = World::new(SessionStatus::Working).await;
        let policy = CheckPolicy {
            budget_per_hour: 3,
            ..CheckPolicy::default()
        };
        let checks = service(&w, policy);
        let all = keys(&numbers(6));
        checks.check(&w.session, &all[5..], false).await.unwrap();
        assert_eq!(
            checks.cached(&w.session, &all, false).await.unwrap()[5],
            Some(crate::contact::Existence::not_found())
        );
        let partial = checks.check_partial(&w.session, &all, false).await.unwrap();
        let answered: Vec<bool> = partial
            .answers
            .iter()
            .map(|a| matches!(a, Some(Ok(_))))
            .collect();
        assert_eq!(
            answered,
            [true, true, false, false, false, true],
            "two fit, the cached one is free"
        );
        assert!(partial.answers[2].is_none());
        let hour = 3600;
        assert!(
            matches!(partial.retry_after_secs, Some(s) if s > hour - 5 && s <= hour),
            "{partial:?}"
        );
        assert_eq!(
            checks
                .cached(&w.session, &all, false)
                .await
                .unwrap()
                .iter()
                .filter(|c| c.is_some())
                .count(),
            3
        );
        // The budget window is the policy's.
        let short = CheckPolicy {
            budget_per_hour: 1,
            budget_window: Duration::from_secs(10),
            ..CheckPolicy::default()
        };
        let checks = service(&w, short);
        let fresh = keys(&numbers(8));
        let partial = checks
            .check_partial(&w.session, &fresh[6..], false)
            .await
            .unwrap();
        assert_eq!(partial.retry_after_secs, Some(10));
        w.clock.advance(Duration::from_secs(10));
        let partial = checks
            .check_partial(&w.session, &fresh[7..], false)
            .await
            .unwrap();
        assert!(
            matches!(partial.answers[0], Some(Ok(_))),
            "refilled: {partial:?}"
        );
    }

    #[tokio::test]
    async fn a_second_pass_is_served_from_the_cache() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        let all = numbers(100);
        w.directory
            .registered
            .lock()
            .unwrap()
            .insert(all[0], Some(lid("500@lid")));
        let first = checks.check(&w.session, &keys(&all), false).await.unwrap();
        assert!(first[0].exists && first[0].lid == Some(lid("500@lid")));
        assert!(!first[1].exists);
        assert_eq!(queries(&w).len(), 1, "one query for the batch");
        let again = checks.check(&w.session, &keys(&all), false).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(queries(&w).len(), 1, "no lookup on the second pass");
        let status = checks.budget(&w.session).await.unwrap();
        assert_eq!(status.remaining, 100);
        assert_eq!(status.stats.cache_hits, 100);
    }

    #[tokio::test]
    async fn a_restart_keeps_what_the_budget_spent_until_the_window_passes() {
        let w = World::new(SessionStatus::Working).await;
        let policy = CheckPolicy {
            budget_per_hour: 5,
            ..CheckPolicy::default()
        };
        let before = service(&w, policy);
        before
            .check(&w.session, &keys(&numbers(3)), false)
            .await
            .unwrap();
        assert_eq!(before.budget(&w.session).await.unwrap().remaining, 2);
        // A new process on the same store: the three lookups still count...
        let after = service(&w, policy);
        assert_eq!(after.budget(&w.session).await.unwrap().remaining, 2);
        let more = keys(&phones_from(3_000_000, 3));
        assert!(matches!(
            after.check(&w.session, &more, false).await,
            Err(ContactError::BudgetExceeded { .. })
        ));
        // ...until the window has passed.
        w.clock.advance(Duration::from_secs(3600));
        let later = service(&w, policy);
        assert_eq!(later.budget(&w.session).await.unwrap().remaining, 5);
    }

    #[tokio::test]
    async fn concurrent_requests_for_one_number_make_one_lookup() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        let one = keys(&numbers(1));
        let answers = join_all((0..50).map(|_| checks.check(&w.session, &one, false))).await;
        assert!(answers.iter().all(|a| a.is_ok()));
        assert_eq!(queries(&w), ["is_on_whatsapp 1"]);
        assert_eq!(checks.budget(&w.session).await.unwrap().remaining, 199);
    }

    #[tokio::test]
    async fn numbers_arriving_together_go_out_in_few_queries() {
        let w = World::new(SessionStatus::Working).await;
        let policy = CheckPolicy {
            budget_per_hour: 10_000,
            ..CheckPolicy::default()
        };
        let checks = service(&w, policy);
        let all = keys(&numbers(1_000));
        join_all(all.chunks(10).map(|c| checks.check(&w.session, c, false))).await;
        let q = queries(&w);
        assert!(q.len() <= 10, "{q:?}");
        assert_eq!(q.len(), 2, "batches of 500: {q:?}");
    }

    #[tokio::test]
    async fn the_budget_is_never_exceeded_under_a_burst() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        let all = keys(&numbers(300));
        let results = join_all(all.chunks(7).map(|c| checks.check(&w.session, c, false))).await;
        let looked_up: usize = results.iter().filter(|r| r.is_ok()).map(|_| 7).sum();
        assert!(looked_up <= 200, "{looked_up}");
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(ContactError::BudgetExceeded { budget: 200, .. })))
            .count();
        assert!(refused > 0);
        let asked: usize = w
            .directory
            .calls()
            .iter()
            .filter_map(|c| c.strip_prefix("is_on_whatsapp ")?.parse::<usize>().ok())
            .sum();
        assert!(asked <= 200, "WhatsApp was asked for {asked} numbers");
        // An hour later, the budget is back.
        w.clock.advance(Duration::from_secs(3600));
        assert_eq!(checks.budget(&w.session).await.unwrap().remaining, 200);
    }

    #[tokio::test]
    async fn force_answers_from_the_cache_inside_the_cooldown() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        let one = keys(&numbers(1));
        checks.check(&w.session, &one, false).await.unwrap();
        w.clock.advance(Duration::from_secs(3599));
        checks.check(&w.session, &one, true).await.unwrap();
        assert_eq!(queries(&w).len(), 1, "inside the cooldown");
        w.clock.advance(Duration::from_secs(1));
        checks.check(&w.session, &one, true).await.unwrap();
        assert_eq!(queries(&w).len(), 2, "after it");
    }

    #[tokio::test]
    async fn whatsapps_429_pauses_lookups() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        w.directory.rate_limited.store(true, Ordering::SeqCst);
        let all = numbers(3);
        let err = checks
            .check(&w.session, &keys(&all[..1]), false)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ContactError::Directory(DirectoryError::RateLimited { .. })
        ));
        w.directory.rate_limited.store(false, Ordering::SeqCst);
        let err = checks
            .check(&w.session, &keys(&all[1..2]), false)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ContactError::Directory(DirectoryError::RateLimited {
                    retry_after_secs: Some(30)
                })
            ),
            "{err:?}"
        );
        assert_eq!(queries(&w).len(), 1, "paused: WhatsApp is not asked again");
        w.clock.advance(Duration::from_secs(30));
        assert!(
            checks
                .check(&w.session, &keys(&all[1..2]), false)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn brazilian_variants_ride_in_the_same_query_and_answer_canonically() {
        let w = World::new(SessionStatus::Working).await;
        let checks = service(&w, CheckPolicy::default());
        let with_nine = phone("5511987654321");
        w.directory
            .registered
            .lock()
            .unwrap()
            .insert(with_nine, None);
        let asked = phone("551187654321");
        let answer = checks
            .check(&w.session, &keys(&[asked]), false)
            .await
            .unwrap();
        assert_eq!(answer[0].phone, Some(with_nine));
        assert_eq!(queries(&w), ["is_on_whatsapp 2"]);
    }
}
