//! Turning requests into store calls, refusing what is malformed with a message that
//! names the field.

use bgjobs_database::jobs::{JobFilter, NewJob, PageRequest, Recipient, ReferenceIds};
use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::{AccountId, JobId, JobStatus, JobType, recipient};
use bgjobs_proto::convert::{from_timestamp, job_status_from_proto, job_type_from_proto};
use bgjobs_proto::{Timestamp, v1};
use chrono::{DateTime, Utc};

use crate::error::Error;

/// The caller's account, which scopes every request.
pub fn account_id(text: &str) -> Result<AccountId, Error> {
    if text.is_empty() {
        return Err(Error::invalid("account_id is required"));
    }
    AccountId::parse(text).map_err(|_| {
        Error::invalid(format!(
            "account_id '{text}' is not valid; account ids are 1 to 64 letters, digits, '-' or '_'"
        ))
    })
}

/// A job id given in a request.
pub fn job_id(text: &str) -> Result<JobId, Error> {
    if text.is_empty() {
        return Err(Error::invalid("job_id is required"));
    }
    text.parse().map_err(|_| Error::invalid(format!("job_id '{text}' is not a UUID")))
}

/// A required free-text field (an operator's name or reason), trimmed.
pub fn required_text<'a>(text: &'a str, field: &str) -> Result<&'a str, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid(format!("{field} is required")));
    }
    Ok(text)
}

/// The job a CreateJob request registers.
pub fn new_job(request: v1::CreateJobRequest) -> Result<NewJob, Error> {
    let job_id = job_id(&request.job_id)?;
    if job_id.as_uuid().is_nil() {
        return Err(Error::invalid("job_id must not be the nil UUID; use a fresh UUIDv7"));
    }
    let account_id = account_id(&request.account_id)?;
    let job_type = job_type(request.job_type, "job_type")?;
    if request.created_by.trim().is_empty() {
        return Err(Error::invalid("created_by is required"));
    }
    let input_object_key = input_key(&account_id, job_id, request.input_object_key)?;
    let reference_ids = request.reference_ids.unwrap_or_default();
    Ok(NewJob {
        job_id,
        account_id,
        job_type,
        input_object_key,
        original_file_name: non_empty(request.original_file_name),
        parameters: parameters(&request.parameters_json)?,
        reference_ids: ReferenceIds {
            client_id: non_empty(reference_ids.client_id),
            user_id: non_empty(reference_ids.user_id),
            warehouse_id: non_empty(reference_ids.warehouse_id),
        },
        created_by: request.created_by,
        notify: recipient(request.notify)?,
    })
}

/// The input file's key, if one is given: it must be the key derived from the account and
/// the job id, so that no caller can register a job reading another account's file.
fn input_key(account: &AccountId, job: JobId, given: String) -> Result<Option<String>, Error> {
    if given.is_empty() {
        return Ok(None);
    }
    if let Err(foreign) = JobFile::Input.check(account, job, &given) {
        tracing::warn!(
            job_id = %job,
            account_id = %account,
            given_key = ?foreign.given,
            "CreateJob refused: its input key is not the job's own"
        );
        return Err(Error::invalid(format!("input_object_key {foreign}")));
    }
    Ok(Some(given))
}

/// Who is emailed when the job ends: nobody when absent or without an address.
fn recipient(notify: Option<v1::Recipient>) -> Result<Option<Recipient>, Error> {
    let Some(notify) = notify.filter(|notify| !notify.email.trim().is_empty()) else {
        return Ok(None);
    };
    let email = recipient::parse_email(&notify.email)
        .map_err(|problem| Error::invalid(format!("notify.email {problem}")))?;
    let time_zone = match notify.time_zone.trim() {
        "" => None,
        zone => Some(
            recipient::parse_time_zone(zone)
                .map_err(|problem| Error::invalid(format!("notify.time_zone {problem}")))?,
        ),
    };
    Ok(Some(Recipient { email, time_zone }))
}

/// The filter and page of a ListJobs request.
pub fn job_list(request: &v1::ListJobsRequest) -> Result<(JobFilter, PageRequest), Error> {
    let account_id = account_id(&request.account_id)?;
    let statuses = request
        .statuses
        .iter()
        .enumerate()
        .map(|(index, &value)| job_status(value, &format!("statuses[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let job_types = request
        .job_types
        .iter()
        .enumerate()
        .map(|(index, &value)| job_type(value, &format!("job_types[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let created_from = time(request.created_from.as_ref(), "created_from")?;
    let created_to = time(request.created_to.as_ref(), "created_to")?;
    if let (Some(from), Some(to)) = (created_from, created_to)
        && from >= to
    {
        return Err(Error::invalid(format!(
            "created_from ({from}) must be before created_to ({to})"
        )));
    }
    let filter = JobFilter {
        account_id,
        statuses,
        job_types,
        created_by: non_empty(request.created_by.trim().to_owned()),
        created_from,
        created_to,
    };
    // Sizes above the maximum are served at the maximum rather than refused (AIP-158).
    let page =
        PageRequest { size: request.page_size, after: non_empty(request.page_token.clone()) };
    Ok((filter, page))
}

fn job_type(value: i32, field: &str) -> Result<JobType, Error> {
    if value == v1::JobType::Unspecified as i32 {
        return Err(Error::invalid(format!("{field} is required")));
    }
    job_type_from_proto(value)
        .ok_or_else(|| Error::invalid(format!("{field} {value} is not a known job type")))
}

fn job_status(value: i32, field: &str) -> Result<JobStatus, Error> {
    if value == v1::JobStatus::Unspecified as i32 {
        return Err(Error::invalid(format!(
            "{field} is JOB_STATUS_UNSPECIFIED; name a status or leave the list empty"
        )));
    }
    job_status_from_proto(value)
        .ok_or_else(|| Error::invalid(format!("{field} {value} is not a known job status")))
}

fn time(timestamp: Option<&Timestamp>, field: &str) -> Result<Option<DateTime<Utc>>, Error> {
    timestamp
        .map(|timestamp| {
            from_timestamp(timestamp)
                .ok_or_else(|| Error::invalid(format!("{field} is not a valid timestamp")))
        })
        .transpose()
}

/// The parameters JSON: an object, or nothing (an empty object).
fn parameters(text: &str) -> Result<serde_json::Value, Error> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| Error::invalid(format!("parameters_json is not valid JSON: {error}")))?;
    if !value.is_object() {
        return Err(Error::invalid(
            "parameters_json must be a JSON object such as {\"client_id\": \"c-1\"}",
        ));
    }
    Ok(value)
}

fn non_empty(text: String) -> Option<String> {
    if text.is_empty() { None } else { Some(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_create() -> v1::CreateJobRequest {
        let job_id = JobId::new();
        v1::CreateJobRequest {
            job_id: job_id.to_string(),
            account_id: "acme".into(),
            job_type: v1::JobType::ProductUpload as i32,
            input_object_key: format!("uploads/acme/{job_id}/input.csv"),
            original_file_name: String::new(),
            parameters_json: r#"{"client_id":"c-1"}"#.into(),
            reference_ids: Some(v1::ReferenceIds { client_id: "c-1".into(), ..Default::default() }),
            created_by: "ann@acme.example".into(),
            notify: None,
        }
    }

    fn refusal(request: v1::CreateJobRequest) -> String {
        match new_job(request) {
            Err(Error::InvalidArgument(message)) => message,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_keeps_empty_optionals_as_none() {
        let job = new_job(valid_create()).expect("valid");
        assert_eq!(job.original_file_name, None);
        assert_eq!(job.reference_ids.client_id.as_deref(), Some("c-1"));
        assert_eq!(job.reference_ids.user_id, None);
        assert_eq!(job.parameters["client_id"], "c-1");
    }

    #[test]
    fn the_input_key_is_the_jobs_own_or_none() {
        let request = valid_create();
        let own_key = format!("uploads/acme/{}/input.csv", request.job_id);
        let job = new_job(request).expect("valid");
        assert_eq!(job.input_object_key, Some(own_key));

        let job =
            new_job(v1::CreateJobRequest { input_object_key: String::new(), ..valid_create() })
                .expect("valid");
        assert_eq!(job.input_object_key, None);
    }

    #[test]
    fn an_input_key_of_another_account_is_refused_with_the_key_it_must_be() {
        let request = valid_create();
        let job_id = request.job_id.clone();
        let message = refusal(v1::CreateJobRequest {
            input_object_key: format!("uploads/globex/{job_id}/input.csv"),
            ..request
        });
        assert_eq!(
            message,
            format!(
                "input_object_key 'uploads/globex/{job_id}/input.csv' is not this job's input \
                 file; its key is 'uploads/acme/{job_id}/input.csv' (made from the account and \
                 the job id)"
            )
        );
    }

    #[test]
    fn empty_parameters_are_an_empty_object() {
        let job =
            new_job(v1::CreateJobRequest { parameters_json: String::new(), ..valid_create() })
                .expect("valid");
        assert_eq!(job.parameters, serde_json::json!({}));
    }

    #[test]
    fn each_malformed_field_is_named() {
        let cases = [
            (
                v1::CreateJobRequest { job_id: String::new(), ..valid_create() },
                "job_id is required",
            ),
            (
                v1::CreateJobRequest { job_id: "abc".into(), ..valid_create() },
                "job_id 'abc' is not a UUID",
            ),
            (
                v1::CreateJobRequest { account_id: String::new(), ..valid_create() },
                "account_id is required",
            ),
            (
                v1::CreateJobRequest { account_id: "a.b".into(), ..valid_create() },
                "account_id 'a.b' is not valid",
            ),
            (v1::CreateJobRequest { job_type: 0, ..valid_create() }, "job_type is required"),
            (
                v1::CreateJobRequest { job_type: 42, ..valid_create() },
                "job_type 42 is not a known job type",
            ),
            (
                v1::CreateJobRequest { created_by: " ".into(), ..valid_create() },
                "created_by is required",
            ),
            (
                v1::CreateJobRequest { parameters_json: "{".into(), ..valid_create() },
                "parameters_json is not valid JSON",
            ),
            (
                v1::CreateJobRequest { parameters_json: "[1]".into(), ..valid_create() },
                "parameters_json must be a JSON object",
            ),
            (
                v1::CreateJobRequest {
                    input_object_key: "uploads/acme/x/input.csv".into(),
                    ..valid_create()
                },
                "input_object_key 'uploads/acme/x/input.csv' is not this job's input file",
            ),
        ];
        for (request, expected) in cases {
            let message = refusal(request);
            assert!(message.starts_with(expected), "{message:?} does not start with {expected:?}");
        }
    }

    #[test]
    fn list_filters_name_the_bad_element() {
        let request = v1::ListJobsRequest {
            account_id: "acme".into(),
            statuses: vec![v1::JobStatus::New as i32, 0],
            ..Default::default()
        };
        let Err(Error::InvalidArgument(message)) = job_list(&request) else {
            panic!("expected InvalidArgument");
        };
        assert!(message.starts_with("statuses[1] is JOB_STATUS_UNSPECIFIED"), "{message}");
    }

    #[test]
    fn an_empty_date_range_is_refused() {
        let now = bgjobs_proto::convert::timestamp(Utc::now());
        let request = v1::ListJobsRequest {
            account_id: "acme".into(),
            created_from: Some(now),
            created_to: Some(now),
            ..Default::default()
        };
        let Err(Error::InvalidArgument(message)) = job_list(&request) else {
            panic!("expected InvalidArgument");
        };
        assert!(message.starts_with("created_from ("), "{message}");
    }
}
