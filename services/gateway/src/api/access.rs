//! Who may call each route of the API: one table, [`ROUTES`], enforced in front of every
//! handler (a route without an entry answers 403 to everyone) and read by the
//! authorization tests, which call every entry as every kind of caller.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::Session;
use crate::error::ApiError;
use crate::state::AppState;

/// What a caller needs to be let through to a route's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: the API's description, demo sign-in (which answers 404 unless demo
    /// users are on) and downloads (whose signed link is the credential).
    Nothing,
    /// A valid token with the view role.
    View,
    /// A valid token with the view and retry roles.
    Retry,
}

/// What a route reads or changes, which decides what a user of another account gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Nothing of an account's.
    Open,
    /// The caller's own account: another account's user gets their own account's
    /// answer.
    Account,
    /// One job, by its id in the path: another account's job answers exactly as a
    /// job that does not exist (404).
    Job,
}

/// One route of the API and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The route as the router declares it.
    pub path: &'static str,
    /// What the caller needs.
    pub needs: Needs,
    /// What it reads or changes.
    pub scope: Scope,
}

const fn route(method: &'static str, path: &'static str, needs: Needs, scope: Scope) -> ApiRoute {
    ApiRoute { method, path, needs, scope }
}

/// Every route of `/api/v1`.
pub static ROUTES: &[ApiRoute] = &[
    route("GET", "/api/v1/openapi.json", Needs::Nothing, Scope::Open),
    route("GET", "/api/v1/me", Needs::View, Scope::Account),
    route("GET", "/api/v1/jobs", Needs::View, Scope::Account),
    route("POST", "/api/v1/jobs/product-upload", Needs::Retry, Scope::Account),
    route("POST", "/api/v1/jobs/warehouse-upload", Needs::Retry, Scope::Account),
    route("POST", "/api/v1/jobs/delete-client", Needs::Retry, Scope::Account),
    route("GET", "/api/v1/jobs/{job_id}", Needs::View, Scope::Job),
    route("POST", "/api/v1/jobs/{job_id}/retry", Needs::Retry, Scope::Job),
    route("POST", "/api/v1/jobs/{job_id}/download-link", Needs::View, Scope::Job),
    route("GET", "/api/v1/downloads/{account}/{job_id}", Needs::Nothing, Scope::Job),
    route("GET", "/api/v1/events", Needs::View, Scope::Account),
    route("GET", "/api/v1/demo/users", Needs::Nothing, Scope::Open),
    route("POST", "/api/v1/demo/sign-in", Needs::Nothing, Scope::Open),
    route("GET", "/api/v1/demo/jwks.json", Needs::Nothing, Scope::Open),
];

/// The entry of the route `path` (as declared) for `method` (HEAD: GET's).
pub fn find(method: &str, path: &str) -> Option<&'static ApiRoute> {
    // HEAD is answered as GET without the body, so it has GET's entry.
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES.iter().find(|route| route.method == method && route.path == path)
}

/// Lets a request through when its route's entry allows its caller, with the verified
/// session in its extensions for the handler; answers anything else with the refusal.
pub async fn enforce(
    State(state): State<AppState>,
    route: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let Some(entry) = find(&method, route.as_str()) else {
        let message = format!("{method} {} is not a route anyone may call", route.as_str());
        return ApiError::Forbidden(message).into_response();
    };
    if entry.needs == Needs::Nothing {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let session = match Session::from_request_parts(&mut parts, &state).await {
        Ok(session) => session,
        Err(refusal) => return refusal.into_response(),
    };
    if entry.needs == Needs::Retry
        && let Err(refusal) = session.caller.require_retry()
    {
        return ApiError::from(refusal).into_response();
    }
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi;

    use super::*;

    /// Every operation of the API's description has its entry, and every entry but the
    /// description itself is described: a route added to one and not the other fails.
    #[test]
    fn the_table_names_exactly_the_described_routes() {
        let described: BTreeSet<(String, String)> = crate::api::ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = [("GET", item.get.is_some()), ("POST", item.post.is_some())];
                methods
                    .into_iter()
                    .filter(|(_, present)| *present)
                    .map(|(method, _)| (method.to_owned(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let tabled: BTreeSet<(String, String)> = ROUTES
            .iter()
            .filter(|route| route.path != "/api/v1/openapi.json")
            .map(|route| (route.method.to_owned(), route.path.to_owned()))
            .collect();
        assert_eq!(described, tabled);
    }

    #[test]
    fn head_has_the_entry_of_get() {
        let head = find("HEAD", "/api/v1/jobs").map(|route| (route.method, route.path));
        assert_eq!(head, Some(("GET", "/api/v1/jobs")));
        assert!(find("HEAD", "/api/v1/demo/sign-in").is_none(), "sign-in is a POST");
    }

    #[test]
    fn each_route_has_one_entry_and_open_routes_need_nothing() {
        for route in ROUTES {
            let same = ROUTES
                .iter()
                .filter(|other| (other.method, other.path) == (route.method, route.path));
            assert_eq!(same.count(), 1, "{} {}", route.method, route.path);
            if route.scope == Scope::Open {
                assert_eq!(route.needs, Needs::Nothing, "{}", route.path);
            }
        }
    }
}
