//! The Background Jobs page: static HTML, CSS and ES modules compiled into the
//! binary (no build step); the page calls the same REST API as everyone else.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// One embedded file: its path, content type and content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../assets/index.html")),
    ("/sign-in", "text/html; charset=utf-8", include_str!("../assets/sign-in.html")),
    ("/assets/style.css", "text/css; charset=utf-8", include_str!("../assets/style.css")),
    ("/assets/app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("/assets/api.js", "text/javascript; charset=utf-8", include_str!("../assets/api.js")),
    ("/assets/format.js", "text/javascript; charset=utf-8", include_str!("../assets/format.js")),
    ("/assets/details.js", "text/javascript; charset=utf-8", include_str!("../assets/details.js")),
    ("/assets/start.js", "text/javascript; charset=utf-8", include_str!("../assets/start.js")),
    ("/assets/sign-in.js", "text/javascript; charset=utf-8", include_str!("../assets/sign-in.js")),
];

/// The page's routes.
pub fn router() -> Router<AppState> {
    ASSETS.iter().fold(Router::new(), |router, &(path, content_type, content)| {
        router.route(
            path,
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")],
                    content,
                )
                    .into_response()
            }),
        )
    })
}
