//! The headers every response carries, pages, API answers, errors, downloads and live
//! updates alike: they tell the browser what the page may load and do, so that a flaw
//! in the page (or a file served as something else) cannot be turned against its user.

use axum::Router;
use axum::http::{HeaderValue, Response, header};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// What the page may load: scripts, styles, images and API calls from this origin
/// only, no inline script or style, no plugins; it may not be framed, change its base
/// URL or submit forms elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Browsers keep to HTTPS for a year once they have seen this over HTTPS.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// The security headers, and whether HSTS is sent.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    /// Send `Strict-Transport-Security` (the gateway is reached over HTTPS only).
    pub hsts: bool,
}

impl SecurityHeaders {
    /// `routes` with every header set on every response, overriding a handler's.
    pub fn apply(self, routes: Router<AppState>) -> Router<AppState> {
        let fixed = [
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Links out of the page (and download links, which carry a signature in
            // their query) never tell the next site where they came from.
            (header::REFERRER_POLICY, "no-referrer"),
            // For browsers without CSP's frame-ancestors.
            (header::X_FRAME_OPTIONS, "DENY"),
        ];
        let routes = fixed.into_iter().fold(routes, |routes, (name, value)| {
            routes.layer(SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value)))
        });
        let hsts = self.hsts.then(|| HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
        routes.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response<_>| hsts.clone(),
        ))
    }
}
