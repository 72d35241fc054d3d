//! What an unauthenticated or careless client must never get: credentials echoed in
//! errors, session names from the public health check, or an unbounded metrics registry.

mod common;

use common::{API_KEY, TestApp, assert_error_shape, json_of};

#[tokio::test]
async fn a_bad_query_never_echoes_a_credential() {
    let (_dir, app) = TestApp::spawn().await;
    let bare = reqwest::Client::new();

    // Wawp carries the key in the query: a bad `limit` must not send it back.
    let url = app.url(&format!(
        "/v2/contacts/all?instance_id=default&access_token={API_KEY}&limit=abc"
    ));
    let resp = bare.get(url).send().await.unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(assert_error_shape(400, &body), "invalid_query");
    assert!(!body.to_string().contains(API_KEY), "key echoed: {body}");
    assert!(
        body.to_string().contains("limit=abc"),
        "the offending input is still shown: {body}"
    );

    // Any key-like parameter, in any spelling, on any dialect.
    for query in [
        "session=default&limit=abc&access_token=SECRET-1",
        "session=default&limit=abc&api_key=SECRET-1",
        "session=default&limit=abc&apikey=SECRET-1",
        "session=default&limit=abc&token=SECRET-1",
        "session=default&limit=abc&key=SECRET-1",
        "session=default&limit=abc&access%5Ftoken=SECRET-1",
        "session=default&limit=abc&Api-Key=SECRET-1",
    ] {
        let (status, body) = app.get_json(&format!("/api/contacts/all?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(assert_error_shape(400, &body), "invalid_query");
        assert!(
            !body.to_string().contains("SECRET-1"),
            "{query} echoed: {body}"
        );
    }
    app.stop().await;
}
