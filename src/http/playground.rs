//! `/playground/`: the GraphiQL bundle built from `playground/` and embedded in
//! the binary, so the page works on a machine with no internet and no Node.

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{Redirect, Response};
use rust_embed::RustEmbed;

use super::embedded::serve;

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
    serve::<Bundle>("index.html", &headers, CONTENT_SECURITY_POLICY)
}

pub(super) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve::<Bundle>(&path, &headers, CONTENT_SECURITY_POLICY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_has_a_page_and_every_file_it_names() {
        crate::http::embedded::assert_complete::<Bundle>("playground/dist");
    }
}
