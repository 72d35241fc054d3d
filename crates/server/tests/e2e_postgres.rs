//! The server on PostgreSQL (`--database-url postgres://…`): a session links against
//! wasim, its contacts are served, and after a restart it is WORKING again without a
//! scan, its keys read back from PostgreSQL. Nothing is stored in the data dir's
//! SQLite file: it is never created. Needs the test server of `scripts/postgres.sh`
//! (`scripts/test` starts it); without `WACONTACTS_TEST_POSTGRES_URL` this fails.

mod common;

use common::Linked;
use wacontacts_store::testing::{Backend, TestDatabase};
use wasim::{AddressBookContact, DirectoryUser};

const ME: &str = "15553330000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_postgres_links_lists_contacts_and_survives_a_restart() {
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a PostgreSQL test database");
    let friends = [("15553330001", "Ana"), ("15553330002", "Bruno")];
    let users = friends
        .iter()
        .map(|(p, _)| DirectoryUser::new(*p))
        .collect();
    let linked = Linked::start_on_database(users, db.raw_url()).await;
    let (_, health) = linked.app.get_json("/health").await;
    linked.link("default", ME).await;
    for (phone, name) in friends {
        linked
            .wasim
            .add_contact(
                ME,
                AddressBookContact {
                    phone: phone.into(),
                    full_name: Some(name.into()),
                    first_name: None,
                },
            )
            .await
            .unwrap();
    }
    let has_friends = |v: &serde_json::Value| {
        friends
            .iter()
            .all(|(_, n)| v.as_array().unwrap().iter().any(|c| c["name"] == *n))
    };
    linked
        .wait_for("/api/contacts/all?session=default", has_friends)
        .await;
    let logins = linked.logins(ME).await;

    // Restart: the session logs in again from the keys in PostgreSQL, no new scan.
    let linked = linked.restart_app().await;
    linked.wait_status("default", "WORKING").await;
    let (_, me) = linked.app.get_json("/api/sessions/default/me").await;
    assert_eq!(me["id"], format!("{ME}@c.us"), "{me}");
    assert!(linked.logins(ME).await > logins, "logged in again");
    let (status, all) = linked
        .app
        .get_json("/api/contacts/all?session=default")
        .await;
    assert_eq!(status, 200, "{all}");
    assert!(has_friends(&all), "contacts kept: {all}");
    assert!(
        !linked.dir.path().join("wacontacts.db").exists(),
        "the SQLite file was created beside PostgreSQL ({health})"
    );
    linked.stop().await;
}
