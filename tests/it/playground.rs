//! `/playground/`: the embedded GraphiQL bundle served with the right types,
//! caching and security headers. (The browser test under playground/tests
//! drives the page itself in Chromium.)

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};

use crate::support::{TestApp, TestDb, test_config};

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_playground_page_and_its_assets_are_served_from_the_binary() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let bare = no_redirects
        .get(format!("{}/playground", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&bare, LOCATION), "/playground/");

    let page = app.get("/playground/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    let policy = header(&page, CONTENT_SECURITY_POLICY);
    assert!(
        policy.contains("default-src 'self'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let html = page.text().await.expect("body");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no absolute URL: {html}"
    );
    let assets: Vec<&str> = html
        .split('"')
        .filter_map(|part| part.strip_prefix("./assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "{html}"
    );

    for asset in assets {
        let response = app.get(&format!("/playground/assets/{asset}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let kind = header(&response, CONTENT_TYPE);
        let expected = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(kind.starts_with(expected), "{asset}: {kind}");
        assert!(header(&response, CACHE_CONTROL).contains("immutable"), "{asset}");
        let etag = header(&response, ETAG);
        let again = app
            .client
            .get(format!("{}/playground/assets/{asset}", app.base))
            .header(IF_NONE_MATCH, etag)
            .send()
            .await
            .expect("request");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{asset}");
    }

    let missing = app.get("/playground/assets/nothing-here.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
