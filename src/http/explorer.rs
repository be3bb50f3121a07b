//! `/`: the task explorer, a web UI built from `ui/` and embedded in the
//! binary. It is a client of the public GraphQL API only (HTTP and its
//! websocket), so it can do nothing a token could not do without it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::AppState;
use super::embedded::serve;

#[derive(RustEmbed)]
#[folder = "ui/dist"]
struct Bundle;

/// Same-origin everything and no inline script or style: the page talks only
/// to the server that served it, and links out only by navigation (a trace
/// viewer).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     connect-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'self'";

pub(super) async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.explorer {
        return (
            StatusCode::NOT_FOUND,
            "the explorer is turned off (explorer.enabled)",
        )
            .into_response();
    }
    serve::<Bundle>("index.html", &headers, CONTENT_SECURITY_POLICY)
}

pub(super) async fn asset(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !state.explorer {
        return (
            StatusCode::NOT_FOUND,
            "the explorer is turned off (explorer.enabled)",
        )
            .into_response();
    }
    serve::<Bundle>(&format!("assets/{path}"), &headers, CONTENT_SECURITY_POLICY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_has_a_page_and_every_file_it_names() {
        crate::http::embedded::assert_complete::<Bundle>("ui/dist");
    }
}
