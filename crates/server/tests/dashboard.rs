//! The dashboard page over real HTTP: public, embedded, with a strict CSP and no
//! inline script; `/` sends browsers to it and API clients get what they got before.
//! (The page itself is driven in a real browser by `scripts/browser-tests.sh`.)

mod common;

use common::{API_KEY, TestApp, assert_error_shape, json_of};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_page_is_public_html_with_a_strict_csp() {
    let (_dir, app) = TestApp::spawn().await;
    let client = no_redirects();
    let resp = client.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/dashboard/app.js"></script>"#));
    // No inline script: every <script> has a src and no body.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    for handler in [
        "onclick=",
        "onload=",
        "onsubmit=",
        "onerror=",
        "javascript:",
    ] {
        assert!(!html.contains(handler), "inline handler {handler}");
    }

    for (path, kind) in [
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/style.css", "text/css"),
    ] {
        let resp = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        assert!(resp.headers().contains_key("content-security-policy"));
        assert!(!resp.text().await.unwrap().is_empty());
    }
    // Only the page's own files are public.
    let resp = client
        .get(app.url("/dashboard/secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    app.stop().await;
}

#[tokio::test]
async fn root_sends_browsers_to_the_dashboard_and_api_clients_as_before() {
    let (_dir, app) = TestApp::spawn().await;
    let client = no_redirects();
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let resp = client
        .get(app.url("/"))
        .header("accept", browser_accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/dashboard");

    // API clients: 401 without the key, 404 route_not_found with it, as before.
    let (status, body) = json_of(client.get(app.url("/")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(assert_error_shape(401, &body), "unauthorized");
    let resp = client
        .get(app.url("/"))
        .header("accept", "application/json")
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 404);
    assert_eq!(assert_error_shape(404, &body), "route_not_found");
    // A POST to / is never redirected.
    let resp = client
        .post(app.url("/"))
        .header("accept", browser_accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    app.stop().await;
}
