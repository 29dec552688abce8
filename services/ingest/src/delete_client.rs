//! `POST /v1/accounts/{account_id}/jobs/delete-client?client_id=C[&dry_run=true][&confirm_name=N][&notify=false]`,
//! as the user of the bearer token:
//! register a Delete Client job, publish its message, answer 202 (409 `client_locked`
//! from the registry while another deletion of the client is unfinished). A deletion
//! that is not a dry run needs `confirm_name`, the client's name as the user typed it
//! (400 without); the consumer deletes nothing unless it is the client's name. There is no
//! body and no input file; whether the client exists is the consumer's to check, since
//! ingest does not read the catalogue.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bgjobs_domain::{AccountId, JobId, JobStatus, JobType};
use bgjobs_proto::convert::{job_status_from_proto, job_type_to_proto};
use bgjobs_proto::v1::{self, CreateJobRequest, ReferenceIds};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::Error;
use crate::query::{NotifyQuery, Recipient};
use crate::state::AppState;
use crate::user::{User, refuse_from_query};

/// Longest client id, as for uploads: it is a reference id shown on the page.
const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest client name typed to confirm a deletion.
const MAX_CONFIRM_NAME_CHARS: usize = 256;

/// The query string of a Delete Client request, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteClientQuery {
    /// The account's client whose data is deleted.
    pub client_id: Option<String>,
    /// Refused: the user who starts the deletion is the bearer token's.
    pub created_by: Option<String>,
    /// Refused: the user's id is the bearer token's `sub`.
    pub user_id: Option<String>,
    /// `true` to only report what would be deleted; `false` or absent to delete.
    pub dry_run: Option<String>,
    /// The client's name as the user typed it to confirm; the consumer deletes nothing
    /// unless it is the client's name. Required unless `dry_run` is `true`.
    pub confirm_name: Option<String>,
    /// Who is emailed when the job ends, as for uploads.
    #[serde(flatten)]
    pub notify: NotifyQuery,
}

/// A Delete Client request whose every field is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteClientRequest {
    /// The tenant the job belongs to.
    pub account: AccountId,
    /// The client whose data is deleted.
    pub client_id: String,
    /// The user who started the job: the token's name (else its `sub`).
    pub created_by: String,
    /// The id of that user: the token's `sub`.
    pub user_id: String,
    /// Report only, change nothing.
    pub dry_run: bool,
    /// The client's name typed to confirm, when one was.
    pub confirm_name: Option<String>,
    /// Who is emailed when the job ends; nobody when `None`.
    pub notify: Option<Recipient>,
}

impl DeleteClientRequest {
    /// Checks the path's account id (the token's own) and the query of a deletion
    /// `user` starts.
    pub(crate) fn parse(
        user: &User,
        account_id: &str,
        query: DeleteClientQuery,
    ) -> Result<Self, Error> {
        let account = user.account(account_id)?;
        refuse_from_query("created_by", query.created_by.as_deref(), "the user who starts a job")?;
        refuse_from_query("user_id", query.user_id.as_deref(), "the user's id")?;
        let client_id = query.client_id.map(|v| v.trim().to_owned()).unwrap_or_default();
        if client_id.is_empty() {
            return Err(Error::invalid(
                "client_id",
                "client_id is required: add ?client_id=<the client to delete>",
            ));
        }
        let valid_chars =
            client_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if client_id.chars().count() > MAX_CLIENT_ID_CHARS || !valid_chars {
            return Err(Error::invalid(
                "client_id",
                format!(
                    "client_id '{client_id}' is not valid: use 1 to {MAX_CLIENT_ID_CHARS} \
                     letters, digits, '-', '_' or '.'"
                ),
            ));
        }
        let dry_run = match query.dry_run.as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(Error::invalid(
                    "dry_run",
                    format!("dry_run '{other}' is not known; use true or false"),
                ));
            }
        };
        let confirm_name = match query.confirm_name.map(|v| v.trim().to_owned()) {
            None => None,
            Some(name)
                if name.is_empty()
                    || name.chars().count() > MAX_CONFIRM_NAME_CHARS
                    || name.chars().any(char::is_control) =>
            {
                return Err(Error::invalid(
                    "confirm_name",
                    format!(
                        "confirm_name is not valid: type the client's name, 1 to \
                         {MAX_CONFIRM_NAME_CHARS} characters"
                    ),
                ));
            }
            Some(name) => Some(name),
        };
        let notify = Recipient::parse(query.notify, &user.0)?;
        // Whoever calls: a deletion is never started without the typed confirmation.
        // Only the consumer knows the client's name, so it checks that the name matches.
        if !dry_run && confirm_name.is_none() {
            return Err(Error::invalid(
                "confirm_name",
                "type the client's name to confirm the deletion (confirm_name), or ask for a \
                 dry run (dry_run=true)",
            ));
        }
        Ok(Self {
            account,
            client_id,
            created_by: user.name().to_owned(),
            user_id: user.id().to_owned(),
            dry_run,
            confirm_name,
            notify,
        })
    }

    /// The job's parameters JSON, as the consumer reads it:
    /// `{"client_id": "<client>", "dry_run": <bool>}`, with `"confirm_name": "<name>"`
    /// when the user typed one.
    pub fn parameters_json(&self) -> String {
        let mut parameters =
            serde_json::json!({ "client_id": self.client_id, "dry_run": self.dry_run });
        if let Some(name) = &self.confirm_name {
            parameters["confirm_name"] = serde_json::Value::String(name.clone());
        }
        parameters.to_string()
    }
}

/// The answer to an accepted request.
#[derive(Debug, Serialize)]
struct Accepted {
    job_id: String,
    status: &'static str,
}

/// The handler of a Delete Client request.
pub(crate) async fn delete_client(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    user: User,
    query: Result<Query<DeleteClientQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|rejection| Error::invalid("query", rejection.body_text()))?;
    let request = DeleteClientRequest::parse(&user, &account_id, query)?;
    let job_id = JobId::new();
    let span = tracing::info_span!(
        "delete_client",
        account = %request.account,
        %job_id,
        trace_id = tracing::field::Empty
    );
    bgjobs_telemetry::record_trace_id(&span);
    // In its own task: if the caller goes away now, the job is still registered and
    // queued instead of being cut in half.
    let registering = tokio::spawn(register_and_publish(state, job_id, request).instrument(span));
    let accepted = registering
        .await
        .map_err(|error| Error::Internal(format!("the registering task failed: {error}")))??;
    let location = format!("/v1/accounts/{account_id}/jobs/{}", accepted.job_id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(accepted)).into_response())
}

/// CreateJob, then the job message with a publisher confirm. Once registered the job
/// is accepted: if the broker refuses its message now, the sweeper publishes it later.
async fn register_and_publish(
    state: AppState,
    job_id: JobId,
    request: DeleteClientRequest,
) -> Result<Accepted, Error> {
    let reference_ids = ReferenceIds {
        client_id: request.client_id.clone(),
        user_id: request.user_id.clone(),
        ..ReferenceIds::default()
    };
    let create = CreateJobRequest {
        job_id: job_id.to_string(),
        account_id: request.account.to_string(),
        job_type: job_type_to_proto(JobType::DeleteClient) as i32,
        input_object_key: String::new(),
        original_file_name: String::new(),
        parameters_json: request.parameters_json(),
        reference_ids: Some(reference_ids),
        created_by: request.created_by.clone(),
        notify: request.notify.clone().map(v1::Recipient::from),
    };
    let created = crate::upload::create_job(&state, create).await.map_err(Error::from_registry)?;
    let recorded = created.job.unwrap_or_default();
    let status = job_status_from_proto(recorded.status).unwrap_or(JobStatus::New);
    tracing::info!(%job_id, dry_run = request.dry_run, "job registered");

    state.publishing.publish_registered(&recorded).await;
    Ok(Accepted { job_id: job_id.to_string(), status: status.as_str() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::testing::jane;

    fn query(client_id: Option<&str>, dry_run: Option<&str>) -> DeleteClientQuery {
        DeleteClientQuery {
            client_id: client_id.map(str::to_owned),
            created_by: None,
            user_id: None,
            dry_run: dry_run.map(str::to_owned),
            confirm_name: None,
            notify: NotifyQuery::default(),
        }
    }

    fn parse(account_id: &str, query: DeleteClientQuery) -> Result<DeleteClientRequest, Error> {
        DeleteClientRequest::parse(&jane(None, None), account_id, query)
    }

    #[test]
    fn a_request_without_dry_run_deletes() {
        let confirmed = DeleteClientQuery {
            confirm_name: Some("Client One".into()),
            ..query(Some("client-1"), None)
        };
        let request = parse("acme", confirmed).expect("valid");
        assert!(!request.dry_run);
        let parameters: serde_json::Value =
            serde_json::from_str(&request.parameters_json()).expect("parameters are JSON");
        assert_eq!(
            parameters,
            serde_json::json!({ "client_id": "client-1", "dry_run": false, "confirm_name": "Client One" })
        );
    }

    #[test]
    fn a_deletion_without_the_typed_confirmation_is_refused_and_a_dry_run_needs_none() {
        for dry_run in [None, Some("false"), Some("")] {
            let refused = parse("acme", query(Some("c"), dry_run));
            assert!(
                matches!(refused, Err(Error::InvalidField { field: "confirm_name", .. })),
                "dry_run {dry_run:?}: {refused:?}"
            );
        }
        let dry_run = parse("acme", query(Some("c"), Some("true")));
        assert!(dry_run.is_ok(), "{dry_run:?}");
    }

    #[test]
    fn a_typed_confirmation_is_kept_for_the_consumer_to_check() {
        let typed = DeleteClientQuery {
            confirm_name: Some(" ACME Corp ".into()),
            ..query(Some("acme"), None)
        };
        let request = parse("acme", typed).expect("valid");
        let parameters: serde_json::Value =
            serde_json::from_str(&request.parameters_json()).expect("parameters are JSON");
        assert_eq!(
            parameters,
            serde_json::json!({ "client_id": "acme", "dry_run": false, "confirm_name": "ACME Corp" })
        );
        let empty =
            DeleteClientQuery { confirm_name: Some("  ".into()), ..query(Some("acme"), None) };
        let refused = parse("acme", empty);
        assert!(matches!(refused, Err(Error::InvalidField { field: "confirm_name", .. })));
    }

    #[test]
    fn the_recipient_is_the_tokens_user_and_not_a_parameter() {
        let notified = DeleteClientQuery {
            notify: NotifyQuery {
                notify_time_zone: Some("Europe/Paris".into()),
                ..NotifyQuery::default()
            },
            ..query(Some("c"), Some("true"))
        };
        let jane = jane(Some("jane@example.com"), None);
        let request = DeleteClientRequest::parse(&jane, "acme", notified).expect("valid");
        assert_eq!(
            request.notify,
            Some(Recipient {
                email: "jane@example.com".into(),
                time_zone: Some("Europe/Paris".into())
            })
        );
        assert_eq!((request.created_by.as_str(), request.user_id.as_str()), ("Jane Doe", "u-jane"));
        let parameters: serde_json::Value =
            serde_json::from_str(&request.parameters_json()).expect("parameters are JSON");
        assert_eq!(parameters, serde_json::json!({ "client_id": "c", "dry_run": true }));
    }

    #[test]
    fn dry_run_true_is_kept_and_other_values_are_refused() {
        let request = parse("acme", query(Some("c"), Some("true"))).expect("valid");
        assert!(request.dry_run);
        let refused = parse("acme", query(Some("c"), Some("yes")));
        assert!(matches!(refused, Err(Error::InvalidField { field: "dry_run", .. })));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("acme/../x", query(Some("c"), None), "account_id"),
            ("acme", query(None, None), "client_id"),
            ("acme", query(Some("a b"), None), "client_id"),
            (
                "acme",
                DeleteClientQuery { created_by: Some("u".into()), ..query(Some("c"), None) },
                "created_by",
            ),
            (
                "acme",
                DeleteClientQuery { user_id: Some("u".into()), ..query(Some("c"), None) },
                "user_id",
            ),
            (
                "acme",
                DeleteClientQuery {
                    notify: NotifyQuery { notify: Some("no".into()), ..NotifyQuery::default() },
                    ..query(Some("c"), None)
                },
                "notify",
            ),
            (
                "acme",
                DeleteClientQuery {
                    notify: NotifyQuery {
                        notify_email: Some("vera@example.com".into()),
                        ..NotifyQuery::default()
                    },
                    ..query(Some("c"), None)
                },
                "notify_email",
            ),
        ];
        for (account, query, expected) in cases {
            match parse(account, query) {
                Err(Error::InvalidField { field, .. }) => assert_eq!(field, expected),
                other => panic!("expected an invalid {expected}, got {other:?}"),
            }
        }
    }
}
