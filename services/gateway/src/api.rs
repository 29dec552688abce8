//! The REST API under `/api/v1`, and its OpenAPI document generated from the handlers.

pub mod access;
pub mod demo;
pub mod download;
pub mod jobs;
pub mod live;
pub mod model;
pub mod retry;
pub mod start;

use axum::Json;
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::state::AppState;

/// The OpenAPI document of the REST API.
#[derive(OpenApi)]
#[openapi(
    info(title = "bgjobs gateway", description = "The Background Jobs page's API. Every \
        endpoint but downloads and demo sign-in needs `Authorization: Bearer <JWT>` with the \
        AdminBackgroundJobView role; retrying and starting work also need AdminBackgroundJobRetry. \
        Everything is scoped to the token's account."),
    paths(
        jobs::me, jobs::list, jobs::details, retry::retry, download::link, download::file, live::events,
        start::product_upload, start::warehouse_upload, start::delete_client,
        demo::users, demo::sign_in, demo::jwks,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Every `/api/v1` route, each behind its entry of [`access::ROUTES`].
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(jobs::me))
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/jobs/product-upload", post(start::product_upload))
        .route("/api/v1/jobs/warehouse-upload", post(start::warehouse_upload))
        .route("/api/v1/jobs/delete-client", post(start::delete_client))
        .route("/api/v1/jobs/{job_id}", get(jobs::details))
        .route("/api/v1/jobs/{job_id}/retry", post(retry::retry))
        .route("/api/v1/jobs/{job_id}/download-link", post(download::link))
        .route("/api/v1/downloads/{account}/{job_id}", get(download::file))
        .route("/api/v1/events", get(live::events))
        .route("/api/v1/demo/users", get(demo::users))
        .route("/api/v1/demo/sign-in", post(demo::sign_in))
        .route("/api/v1/demo/jwks.json", get(demo::jwks))
        .route_layer(middleware::from_fn_with_state(state.clone(), access::enforce))
}
