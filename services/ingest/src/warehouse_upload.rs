//! `POST /v1/accounts/{account_id}/jobs/warehouse-upload?file_name=F[&mode=M]`, as the
//! user of the bearer token:
//! a warehouse locations file, streamed and checked like a product upload. There is
//! no client: each row names its warehouse, which the consumer checks against the
//! account's warehouses.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bgjobs_domain::JobType;
use bgjobs_proto::v1::ReferenceIds;

use crate::Error;
use crate::query::{OptionsQuery, UploadOptions};
use crate::state::AppState;
use crate::upload::{Submission, accept_body, file_name_header, query_of};
use crate::user::User;

/// The handler of a warehouse upload.
pub(crate) async fn warehouse_upload(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    user: Result<User, Error>,
    query: Result<Query<OptionsQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let submission =
        user.and_then(|user| Ok((user, query_of(query)?))).and_then(|(user, query)| {
            let request =
                UploadOptions::parse(&user, &account_id, query, file_name_header(&headers))?;
            Ok(Submission {
                parameters_json: serde_json::Value::Object(request.parameters()).to_string(),
                account: request.account,
                job_type: JobType::WarehouseUpload,
                created_by: request.created_by,
                file_name: request.file_name,
                reference_ids: ReferenceIds { user_id: request.user_id, ..ReferenceIds::default() },
                encoding: request.encoding,
                notify: request.notify,
            })
        });
    accept_body(&state, &account_id, submission, &headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Mode;
    use crate::user::testing::jane;

    fn query(mode: Option<&str>) -> OptionsQuery {
        OptionsQuery {
            file_name: Some("locations.csv".to_owned()),
            mode: mode.map(str::to_owned),
            ..OptionsQuery::default()
        }
    }

    fn parse(account_id: &str, query: OptionsQuery) -> Result<UploadOptions, Error> {
        UploadOptions::parse(&jane(None, None), account_id, query, None)
    }

    fn parameters_json(request: &UploadOptions) -> String {
        serde_json::Value::Object(request.parameters()).to_string()
    }

    #[test]
    fn a_complete_request_needs_no_client_and_keeps_the_mode_and_the_tokens_user() {
        let request = parse("acme", query(None)).expect("valid request");
        assert_eq!(request.mode, Mode::Partial);
        assert_eq!((request.created_by.as_str(), request.user_id.as_str()), ("Jane Doe", "u-jane"));
        assert_eq!(
            parameters_json(&request),
            r#"{"all_or_nothing":false,"write":"create-or-update"}"#
        );
        let strict = parse("acme", query(Some("all-or-nothing"))).expect("valid request");
        assert_eq!(
            parameters_json(&strict),
            r#"{"all_or_nothing":true,"write":"create-or-update"}"#
        );
        assert_eq!(strict.file_name.as_deref(), Some("locations.csv"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("acme/../x", query(None), "account_id"),
            (
                "acme",
                OptionsQuery { created_by: Some("u".to_owned()), ..query(None) },
                "created_by",
            ),
            ("acme", query(Some("some")), "mode"),
            ("acme", OptionsQuery { write: Some("x".to_owned()), ..query(None) }, "write"),
        ];
        for (account, query, expected_field) in cases {
            match parse(account, query) {
                Err(Error::InvalidField { field, .. }) => assert_eq!(field, expected_field),
                other => panic!("expected an invalid {expected_field}, got {other:?}"),
            }
        }
    }
}
