//! `POST /v1/accounts/{account_id}/jobs/warehouse-upload?created_by=U[&user_id=I]&file_name=F[&mode=M]`:
//! a warehouse locations file, streamed and checked like a product upload. There is
//! no client: each row names its warehouse, which the consumer checks against the
//! account's warehouses.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bgjobs_domain::upload::write::WriteMode;
use bgjobs_domain::{AccountId, JobType};
use bgjobs_proto::v1::ReferenceIds;
use encoding_rs::Encoding;
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::Error;
use crate::query::{
    Mode, parse_created_by, parse_encoding, parse_file_name, parse_mode, parse_user_id,
    parse_write, with_encoding,
};
use crate::state::AppState;
use crate::upload::{Submission, accept_body, file_name_header, query_of};

/// The query string of a warehouse upload, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct WarehouseUploadQuery {
    /// The user who starts the upload.
    pub created_by: Option<String>,
    /// The id of that user, kept as the job's reference user id; optional.
    pub user_id: Option<String>,
    /// The name of the user's file; the `X-File-Name` header may give it instead.
    pub file_name: Option<String>,
    /// `partial` (default) or `all-or-nothing`.
    pub mode: Option<String>,
    /// `create-or-update` (default), `create-only` or `update-only`.
    pub write: Option<String>,
    /// The file's character encoding, e.g. `windows-1252`; UTF-8 when absent.
    pub encoding: Option<String>,
}

/// A warehouse upload request whose every field is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseUploadRequest {
    /// The tenant the job belongs to.
    pub account: AccountId,
    /// The user who started the upload.
    pub created_by: String,
    /// The id of that user, empty when the caller named none.
    pub user_id: String,
    /// The user's file name, without any directory part; kept as metadata only.
    pub file_name: Option<String>,
    /// Partial or all-or-nothing import.
    pub mode: Mode,
    /// Whether existing locations may be updated and new ones created.
    pub write: WriteMode,
    /// The file's encoding when it is not UTF-8.
    pub encoding: Option<&'static Encoding>,
}

impl WarehouseUploadRequest {
    /// Checks the path's account id, the query and the `X-File-Name` header (percent-encoded
    /// UTF-8); the query's `file_name` wins over the header.
    pub fn parse(
        account_id: &str,
        query: WarehouseUploadQuery,
        file_name_header: Option<&str>,
    ) -> Result<Self, Error> {
        let account = AccountId::parse(account_id).map_err(|error| {
            Error::invalid("account_id", format!("account_id in the path: {error}"))
        })?;
        let created_by = parse_created_by(query.created_by)?;
        let user_id = parse_user_id(query.user_id)?;
        let header_name = file_name_header
            .map(|value| percent_decode_str(value).decode_utf8_lossy().into_owned());
        let file_name = parse_file_name(query.file_name.or(header_name))?;
        let mode = parse_mode(query.mode)?;
        let write = parse_write(query.write)?;
        let encoding = parse_encoding(query.encoding)?;
        Ok(Self { account, created_by, user_id, file_name, mode, write, encoding })
    }

    /// The job's parameters JSON, as the consumer reads it:
    /// `{"all_or_nothing": <bool>, "write": "<write mode>"}`.
    pub fn parameters_json(&self) -> String {
        let parameters = serde_json::json!({
            "all_or_nothing": self.mode == Mode::AllOrNothing,
            "write": self.write.as_str(),
        });
        with_encoding(parameters, self.encoding).to_string()
    }
}

/// The handler of a warehouse upload.
pub(crate) async fn warehouse_upload(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    query: Result<Query<WarehouseUploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let submission = query_of(query).and_then(|query| {
        let request =
            WarehouseUploadRequest::parse(&account_id, query, file_name_header(&headers))?;
        Ok(Submission {
            parameters_json: request.parameters_json(),
            account: request.account,
            job_type: JobType::WarehouseUpload,
            created_by: request.created_by,
            file_name: request.file_name,
            reference_ids: ReferenceIds { user_id: request.user_id, ..ReferenceIds::default() },
            encoding: request.encoding,
        })
    });
    accept_body(&state, &account_id, submission, &headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(created_by: Option<&str>, mode: Option<&str>) -> WarehouseUploadQuery {
        WarehouseUploadQuery {
            created_by: created_by.map(str::to_owned),
            user_id: None,
            file_name: Some("locations.csv".to_owned()),
            mode: mode.map(str::to_owned),
            write: None,
            encoding: None,
        }
    }

    #[test]
    fn a_complete_request_needs_no_client_and_keeps_the_mode() {
        let request = WarehouseUploadRequest::parse("acme", query(Some("jane"), None), None)
            .expect("valid request");
        assert_eq!(request.mode, Mode::Partial);
        assert_eq!(
            request.parameters_json(),
            r#"{"all_or_nothing":false,"write":"create-or-update"}"#
        );
        let strict = WarehouseUploadRequest::parse(
            "acme",
            query(Some("jane"), Some("all-or-nothing")),
            None,
        )
        .expect("valid request");
        assert_eq!(
            strict.parameters_json(),
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
                WarehouseUploadQuery { write: Some("x".to_owned()), ..query(Some("u"), None) },
                "write",
            ),
        ];
        for (account, query, expected_field) in cases {
            match WarehouseUploadRequest::parse(account, query, None) {
                Err(Error::InvalidField { field, .. }) => assert_eq!(field, expected_field),
                other => panic!("expected an invalid {expected_field}, got {other:?}"),
            }
        }
    }
}
