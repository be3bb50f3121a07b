//! `/playground/`: the GraphiQL bundle built from `playground/` and embedded in
//! the binary, so the page works on a machine with no internet and no Node.
//! Debug builds read `playground/dist` from disk at run time (rust-embed's
//! behaviour), release builds carry it.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "playground/dist"]
struct Bundle;

/// Same-origin everything: the page may only talk to the server that served
/// it (HTTP and its websocket), and Monaco's module workers come from it too.
/// Monaco and GraphiQL inject style elements, hence `'unsafe-inline'` for
/// styles only; the bundle's fonts are inlined as data URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     worker-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; \
     font-src 'self' data:; img-src 'self' data:; object-src 'none'; \
     base-uri 'self'; form-action 'none'; frame-ancestors 'self'";

/// `/playground` → `/playground/`, so the bundle's relative URLs resolve.
pub(super) async fn redirect() -> Redirect {
    Redirect::permanent("/playground/")
}

pub(super) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

pub(super) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Bundle::get(path) else {
        return (StatusCode::NOT_FOUND, "no such playground file").into_response();
    };
    let etag = format!("\"{}\"", crate::domain::hex(&file.metadata.sha256_hash()[..16]));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_policy(path)),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// The bundler names assets after their content, so they never change under
/// one URL; the page itself must be revalidated to pick up a new build.
fn cache_policy(path: &str) -> &'static str {
    if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension {
        "html" => "text/html; charset=utf-8",
        // Monaco's workers are module workers: browsers require a JavaScript type.
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ttf" => "font/ttf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_has_a_page_and_every_file_it_names() {
        let page = Bundle::get("index.html").expect("playground/dist/index.html is built");
        let html = String::from_utf8_lossy(&page.data);
        let referenced: Vec<&str> = html
            .split(['"', '\''])
            .filter_map(|part| part.strip_prefix("./"))
            .collect();
        assert!(!referenced.is_empty(), "the page links its bundle: {html}");
        for path in referenced {
            assert!(
                Bundle::get(path).is_some(),
                "{path} is named by the page but missing"
            );
        }
    }

    #[test]
    fn hashed_assets_are_immutable_and_the_page_is_revalidated() {
        assert_eq!(cache_policy("index.html"), "no-cache");
        assert!(cache_policy("assets/index-abc.js").contains("immutable"));
        assert_eq!(
            content_type("assets/x.worker-1.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/codicon.ttf"), "font/ttf");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
