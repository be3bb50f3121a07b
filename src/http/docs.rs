//! `/docs/`: the REST API reference (Swagger UI, from `playground/dist-docs`,
//! built by `playground/build-docs.mjs`) reading this server's
//! `/openapi.json`; embedded like the playground, so it works offline.

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{Redirect, Response};
use rust_embed::RustEmbed;

use super::embedded::serve;

#[derive(RustEmbed)]
#[folder = "playground/dist-docs"]
struct Reference;

/// Same origin only. Swagger UI sets style attributes, hence `'unsafe-inline'`
/// for styles; its icons are data URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'none'; \
     frame-ancestors 'self'";

/// `/docs` → `/docs/`, so the page's relative URLs resolve.
pub(super) async fn redirect() -> Redirect {
    Redirect::permanent("/docs/")
}

pub(super) async fn index(headers: HeaderMap) -> Response {
    serve::<Reference>("index.html", &headers, CONTENT_SECURITY_POLICY)
}

pub(super) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve::<Reference>(&path, &headers, CONTENT_SECURITY_POLICY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_it_carries_and_reads_this_servers_document() {
        let page = Reference::get("index.html").expect("playground/dist-docs/index.html is built");
        let html = String::from_utf8_lossy(&page.data);
        let referenced: Vec<&str> = html
            .split('"')
            .filter_map(|part| part.strip_prefix("./"))
            .collect();
        assert_eq!(
            referenced.len(),
            4,
            "icon, style, Swagger UI, initializer: {html}"
        );
        for path in &referenced {
            assert!(
                Reference::get(path).is_some(),
                "{path} is named by the page but missing"
            );
        }
        assert!(!html.contains("http"), "nothing from elsewhere: {html}");
        let init = referenced
            .iter()
            .find(|p| p.contains("init."))
            .and_then(|p| Reference::get(p));
        let init = String::from_utf8_lossy(&init.expect("the initializer").data).into_owned();
        assert!(
            init.contains("url: '/openapi.json'") && init.contains("validatorUrl: null"),
            "{init}"
        );
    }
}
