//! The Wawp v2 and Whinself dialects end to end, and the OpenAPI document covering
//! every route.

mod common;

use common::{API_KEY, Linked, assert_error_shape, json_of};
use serde_json::json;
use wasim::DirectoryUser;

const ME: &str = "15551112222";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wawp_and_whinself_speak_their_shapes() {
    let linked = Linked::start(vec![
        DirectoryUser::new("15557770001"),
        DirectoryUser::new("15557770002"),
    ])
    .await;
    linked.link("inst1", ME).await;
    linked
        .add_to_address_book(ME, "15557770001", Some("Alice Book"), Some("Alice"))
        .await;
    linked
        .wait_for("/api/contacts/all?session=inst1", |v| {
            v.as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "Alice Book")
        })
        .await;

    // Wawp: session in instance_id, key in access_token, no header.
    let bare = reqwest::Client::new();
    let v2 = |path: &str| {
        let sep = if path.contains('?') { '&' } else { '?' };
        linked.app.url(&format!(
            "{path}{sep}instance_id=inst1&access_token={API_KEY}"
        ))
    };
    let (status, list) = json_of(bare.get(v2("/v2/contacts/all")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"]["_serialized"] == "15557770001@c.us" && c["name"] == "Alice Book")
    );
    let (status, c) = json_of(
        bare.get(v2("/v2/contacts/15557770001"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["shortName"], "Alice");
    let (_, c) = json_of(
        bare.get(v2("/v2/contacts?contactId=15557770001@c.us"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c["name"], "Alice Book");
    let (_, exists) = json_of(
        bare.get(v2("/v2/contacts/check-exists?phone=15557770002"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(exists["numberExists"], true);
    assert_eq!(exists["chatId"], "15557770002@c.us");
    let (_, m) = json_of(
        bare.get(v2("/v2/lids/pn/15557770002"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let lid = m["lid"]
        .as_str()
        .expect("lid learned by the check")
        .to_owned();
    let (_, m) = json_of(
        bare.get(v2(&format!("/v2/lids/{lid}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(m["pn"], "15557770002@c.us");
    let (status, _) = json_of(
        bare.post(v2("/v2/contacts/block?contactId=15557770002"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let (_, blocked) = linked.app.get_json("/api/inst1/contacts/blocked").await;
    assert_eq!(blocked[0]["id"], "15557770002@c.us", "{blocked}");
    let (status, _) = json_of(
        bare.post(v2("/v2/contacts/unblock"))
            .json(&json!({"contactId": "15557770002@c.us"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);

    let wrong = linked
        .app
        .url("/v2/contacts/all?instance_id=inst1&access_token=nope");
    let (status, body) = json_of(bare.get(wrong).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(assert_error_shape(401, &body), "unauthorized");
    let missing = linked
        .app
        .url(&format!("/v2/contacts/all?access_token={API_KEY}"));
    let (status, body) = json_of(bare.get(missing).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "missing_instance_id");
    // The query key is Wawp's only: WAHA routes still need the header.
    let waha = linked.app.url(&format!(
        "/api/contacts/all?session=inst1&access_token={API_KEY}"
    ));
    assert_eq!(bare.get(waha).send().await.unwrap().status().as_u16(), 401);

    // Whinself: engine-style jids and snake_case names.
    let (status, c) = linked
        .app
        .get_json("/getcontact?session=inst1&phone=15557770001")
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c,
        json!({"jid": "15557770001@s.whatsapp.net", "push_name": null, "full_name": "Alice Book", "first_name": "Alice"})
    );
    let (status, all) = linked.app.get_json("/getcontacts?session=inst1").await;
    assert_eq!(status, 200);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|c| c["jid"] == "15557770001@s.whatsapp.net")
    );
    let (status, body) = linked.app.get_json("/getcontact?session=inst1").await;
    assert_eq!(status, 400);
    assert_eq!(assert_error_shape(400, &body), "missing_phone");
    linked.stop().await;
}

/// Wawp's "CRM sync": one call gives name, push name, face and about, in Wawp's
/// shapes (and WAHA's fields beside them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wawp_contact_answers_carry_picture_and_about_in_its_shapes() {
    let alice = DirectoryUser {
        about: Some("At the gym".into()),
        picture_id: Some("4242".into()),
        picture_url: Some("https://pps.example/alice.jpg".into()),
        ..DirectoryUser::new("15557780001")
    };
    let bob = DirectoryUser {
        about: Some("secret".into()),
        about_hidden: Some(true),
        picture_id: Some("77".into()),
        picture_hidden: Some(true),
        ..DirectoryUser::new("15557780002")
    };
    let linked = Linked::start(vec![alice, bob]).await;
    linked.link("crm", ME).await;
    for (phone, name) in [("15557780001", "Alice Book"), ("15557780002", "Bob Book")] {
        linked
            .add_to_address_book(ME, phone, Some(name), None)
            .await;
    }
    linked
        .wasim
        .push_event(
            "15557780001",
            wasim::UserEvent::PushName {
                push_name: "Ali".into(),
            },
        )
        .await
        .unwrap();
    linked
        .wait_for("/api/contacts/all?session=crm", |v| {
            let all = v.as_array().unwrap();
            all.iter().any(|c| c["pushname"] == "Ali")
                && all.iter().any(|c| c["name"] == "Bob Book")
        })
        .await;
    let bare = reqwest::Client::new();
    let v2 = |path: &str| {
        let sep = if path.contains('?') { '&' } else { '?' };
        linked.app.url(&format!(
            "{path}{sep}instance_id=crm&access_token={API_KEY}"
        ))
    };
    let get = |url: String| {
        let bare = bare.clone();
        async move { json_of(bare.get(url).send().await.unwrap()).await }
    };

    let (status, c) = get(v2("/v2/contacts?contactId=15557780001")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["id"],
        json!({"server": "c.us", "user": "15557780001", "_serialized": "15557780001@c.us"})
    );
    assert_eq!(c["number"], "15557780001");
    assert_eq!(c["name"], "Alice Book");
    assert_eq!(c["pushname"], "Ali");
    assert_eq!(c["pushName"], "Ali");
    assert_eq!(c["about"], "At the gym");
    let url = c["profilePicUrl"].as_str().expect("a picture URL");
    assert!(url.starts_with("https://"), "{c}");
    assert_eq!(c["profilePic"], c["profilePicUrl"]);
    assert_eq!(c["isBusiness"], false);
    assert_eq!(c["isEnterprise"], false);
    assert_eq!(c["isWAContact"], true, "WAHA's fields too: {c}");

    let (status, b) = get(v2("/v2/contacts/15557780002")).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["about"], serde_json::Value::Null, "hidden about: {b}");
    assert_eq!(
        b["profilePicUrl"],
        serde_json::Value::Null,
        "hidden picture: {b}"
    );

    let (status, p) = get(v2("/v2/contacts/profile-picture?contactId=15557780001")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["id"], "15557780001@c.us");
    assert_eq!(p["url"], p["profilePictureURL"]);
    assert!(p["url"].as_str().is_some(), "{p}");

    let (status, m) = get(v2("/v2/lids/pn/15557780001")).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["number"], "15557780001");
    assert_eq!(m["pn"], "15557780001@c.us");

    let (status, list) = get(v2("/v2/contacts/all?sortBy=name&sortOrder=ASC&limit=1000")).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Alice Book", "Bob Book"]);
    let (status, body) = get(v2("/v2/contacts/all?limit=1001")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(400, &body), "invalid_limit");

    // Wawp's client sends the key as an `access-token` header…
    let (status, count) = json_of(
        bare.get(linked.app.url("/v2/lids/count?instance_id=crm"))
            .header("access-token", API_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{count}");
    assert!(count.is_u64(), "a simple integer: {count}");
    // …and both credentials in the JSON body of a PUT.
    let (status, saved) = json_of(
        bare.put(linked.app.url("/v2/contacts/15557780002@c.us"))
            .json(&json!({"instance_id": "crm", "access_token": API_KEY,
                "firstName": "Bob", "lastName": "Saved"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let (_, b) = get(v2("/v2/contacts/15557780002")).await;
    assert_eq!(b["name"], "Bob Saved");

    // Only the statuses Wawp documents: an instance that is not WORKING is a 400
    // (WAHA answers 422), with our body and its code.
    let (status, _) = linked
        .app
        .post_json("/api/sessions", json!({"name": "idle", "start": false}))
        .await;
    assert_eq!(status, 201);
    let idle = linked.app.url(&format!(
        "/v2/contacts/all?instance_id=idle&access_token={API_KEY}"
    ));
    let (status, body) = get(idle).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(400, &body), "session_not_ready");
    let (status, _) = linked.app.get_json("/api/contacts/all?session=idle").await;
    assert_eq!(status, 422, "WAHA's routes keep WAHA's status");
    linked.stop().await;
}

#[tokio::test]
async fn openapi_lists_every_route_with_schemas() {
    let (_dir, app) = common::TestApp::spawn().await;
    let (_, doc) = app.get_json("/openapi.json").await;
    let expected = [
        ("get", "/api/contacts/all"),
        ("get", "/api/contacts"),
        ("get", "/api/{session}/contacts/{id}"),
        ("put", "/api/{session}/contacts/{id}"),
        ("get", "/api/contacts/check-exists"),
        ("get", "/api/contacts/about"),
        ("get", "/api/contacts/profile-picture"),
        ("post", "/api/contacts/block"),
        ("post", "/api/contacts/unblock"),
        ("get", "/api/{session}/contacts/blocked"),
        ("get", "/api/{session}/lids"),
        ("get", "/api/{session}/lids/count"),
        ("get", "/api/{session}/lids/{lid}"),
        ("get", "/api/{session}/lids/pn/{phoneNumber}"),
        ("post", "/api/{session}/lids/pn"),
        ("post", "/api/sessions/{session}/start"),
        ("post", "/api/sessions/{session}/stop"),
        ("post", "/api/sessions/{session}/logout"),
        ("post", "/api/sessions/{session}/restart"),
        ("post", "/api/sessions/start"),
        ("post", "/api/sessions/stop"),
        ("post", "/api/sessions/logout"),
        ("get", "/api/sessions/{session}/me"),
        ("get", "/api/{session}/auth/qr"),
        ("post", "/api/{session}/auth/request-code"),
        ("get", "/v2/contacts/all"),
        ("get", "/v2/contacts"),
        ("get", "/v2/contacts/{id}"),
        ("put", "/v2/contacts/{id}"),
        ("get", "/v2/contacts/check-exists"),
        ("get", "/v2/contacts/about"),
        ("get", "/v2/contacts/profile-picture"),
        ("post", "/v2/contacts/block"),
        ("post", "/v2/contacts/unblock"),
        ("get", "/v2/lids"),
        ("get", "/v2/lids/count"),
        ("get", "/v2/lids/{lid}"),
        ("get", "/v2/lids/pn/{phoneNumber}"),
        ("post", "/v2/lids/pn"),
        ("get", "/getcontact"),
        ("get", "/getcontacts"),
    ];
    for (method, path) in expected {
        let op = &doc["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
        let ok = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(code, _)| code.starts_with('2'))
            .unwrap_or_else(|| panic!("{method} {path} has no 2xx response"));
        assert!(
            ok.1["content"]["application/json"]["schema"].is_object(),
            "{method} {path}: 2xx response without a schema"
        );
        if method == "put"
            || (method == "post" && !path.ends_with("/start") && !path.contains("/{session}/"))
        {
            assert!(
                op["requestBody"].is_object(),
                "{method} {path} has no request body schema"
            );
        }
    }
    app.stop().await;
}

/// What openapi-spec-validator, client generators and schemathesis rely on (the full
/// check with those tools is `scripts/api-contract.sh`): path parameters match the
/// path, operation ids are unique, public routes need no key, Wawp's routes take
/// `access_token`, and the statuses of the layers (401, 413, 415, 504) are documented.
#[tokio::test]
async fn openapi_parameters_security_and_layer_statuses_are_right() {
    let (_dir, app) = common::TestApp::spawn().await;
    let (_, doc) = app.get_json("/openapi.json").await;
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(
                ids.insert(id.clone()),
                "{at}: operationId {id} is not unique"
            );
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            for p in &params {
                let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                assert!(seen.insert((name, place)), "{at}: {place} {name} twice");
                if place == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{at}: path parameter {name} is not in the path"
                    );
                    assert_eq!(
                        p["required"], true,
                        "{at}: path parameter {name} not required"
                    );
                }
            }
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    seen.contains(&(name, "path")),
                    "{at}: {{{name}}} is not declared"
                );
            }
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.contains(path.as_str()),
                "{at}: the summary repeats the path"
            );
            let statuses = op["responses"].as_object().unwrap();
            let public = ["/health", "/ping", "/openapi.json", "/docs/"].contains(&path.as_str())
                || path.starts_with("/dashboard");
            if public {
                assert_eq!(op["security"], serde_json::json!([]), "{at} is public");
            } else {
                assert!(statuses.contains_key("401"), "{at}: 401 undocumented");
            }
            if path.starts_with("/v2/") {
                assert!(
                    op["security"].to_string().contains("access_token"),
                    "{at}: Wawp's access_token is not a security scheme"
                );
                assert!(
                    params.iter().all(|p| p["name"] != "session"),
                    "{at}: a WAHA parameter"
                );
            }
            if op["requestBody"].is_object() {
                for status in ["400", "413", "415"] {
                    assert!(statuses.contains_key(status), "{at}: {status} undocumented");
                }
            }
            if path.starts_with("/v2/") {
                // Wawp documents 400/401/404/500: a timeout is its 500.
                for status in statuses.keys() {
                    assert!(
                        [
                            "200", "201", "400", "401", "404", "413", "415", "429", "500"
                        ]
                        .contains(&status.as_str()),
                        "{at}: {status} is not one of Wawp's"
                    );
                }
            } else {
                assert!(statuses.contains_key("504"), "{at}: 504 undocumented");
                // A request naming a session may meet a dead holder (several processes).
                let names_session = path.contains("{session}")
                    || path.starts_with("/api/contacts")
                    || params
                        .iter()
                        .any(|p| p["name"] == "session" && p["in"] == "query");
                if names_session {
                    assert!(statuses.contains_key("503"), "{at}: 503 undocumented");
                }
            }
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["access_token"]["in"], "query");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    app.stop().await;
}
