//! `POST /v1/accounts/{account_id}/jobs/warehouse-upload?created_by=U[&user_id=I]&file_name=F[&mode=M]`:
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
use crate::query::{OptionsQuery, UploadOptions, parse_account};
use crate::state::AppState;
use crate::upload::{Submission, accept_body, file_name_header, query_of};

/// The handler of a warehouse upload.
pub(crate) async fn warehouse_upload(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    query: Result<Query<OptionsQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let submission = query_of(query).and_then(|query| {
        let request = parse(&account_id, query, file_name_header(&headers))?;
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

/// A warehouse upload's request: the path's account id and the options of every upload
/// (no client: each row names its warehouse).
fn parse(
    account_id: &str,
    query: OptionsQuery,
    file_name_header: Option<&str>,
) -> Result<UploadOptions, Error> {
    UploadOptions::parse(parse_account(account_id)?, query, file_name_header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Mode;

    fn query(created_by: Option<&str>, mode: Option<&str>) -> OptionsQuery {
        OptionsQuery {
            created_by: created_by.map(str::to_owned),
            file_name: Some("locations.csv".to_owned()),
            mode: mode.map(str::to_owned),
            ..OptionsQuery::default()
        }
    }

    fn parameters_json(request: &UploadOptions) -> String {
        serde_json::Value::Object(request.parameters()).to_string()
    }

    #[test]
    fn a_complete_request_needs_no_client_and_keeps_the_mode() {
        let request = parse("acme", query(Some("jane"), None), None).expect("valid request");
        assert_eq!(request.mode, Mode::Partial);
        assert_eq!(
            parameters_json(&request),
            r#"{"all_or_nothing":false,"write":"create-or-update"}"#
        );
        let strict = parse("acme", query(Some("jane"), Some("all-or-nothing")), None)
            .expect("valid request");
        assert_eq!(
            parameters_json(&strict),
            r#"{"all_or_nothing":true,"write":"create-or-update"}"#
        );
        assert_eq!(strict.file_name.as_deref(), Some("locations.csv"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("acme/../x", query(Some("u"), None), "account_id"),
            ("acme", query(None, None), "created_by"),
            ("acme", query(Some("u"), Some("some")), "mode"),
            (
                "acme",
                OptionsQuery { write: Some("x".to_owned()), ..query(Some("u"), None) },
                "write",
            ),
        ];
        for (account, query, expected_field) in cases {
            match parse(account, query, None) {
                Err(Error::InvalidField { field, .. }) => assert_eq!(field, expected_field),
                other => panic!("expected an invalid {expected_field}, got {other:?}"),
            }
        }
    }
}
