//! What a caller sends the gateway, arbitrary bytes, read and checked as its handlers do
//! before the registry or ingest is asked anything. The first byte chooses what the rest
//! is:
//! - the list's query string (`ListQuery`, then `list_request`) and its page token as
//!   the registry reads it (`Cursor::decode`);
//! - a download link's query string (`LinkQuery`, then `LinkSigner::check`);
//! - a demo sign-in body (`SignIn` from JSON);
//! - the options of starting work (`UploadQuery`, `DeleteClientQuery`, then
//!   `Recipient::of`).
//!
//! Must hold: no panic; a refusal is a 400 (403 for a link) with a message; an accepted
//! list keeps the caller's account and only known statuses, types and page sizes, with
//! From before To; a page token is accepted only as the registry itself wrote it; a link
//! is accepted only with its own signature, before it expires.
#![no_main]

use std::sync::OnceLock;

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use bgjobs_database::jobs::Cursor;
use bgjobs_domain::recipient::parse_time_zone;
use bgjobs_domain::{AccountId, JobId};
use chrono::{DateTime, Utc};
use gateway::ApiError;
use gateway::auth::Caller;
use gateway::requests::{
    DeleteClientQuery, LINK_VALIDITY, LinkQuery, LinkSigner, ListQuery, Recipient, SignIn,
    UploadQuery, list_request,
};
use libfuzzer_sys::fuzz_target;

fn caller() -> &'static Caller {
    static CALLER: OnceLock<Caller> = OnceLock::new();
    CALLER.get_or_init(|| Caller {
        user_id: "u1".to_owned(),
        name: "User One".to_owned(),
        account: AccountId::parse("acct-1").expect("a valid account"),
        can_retry: true,
        email: Some("u1@example.test".to_owned()),
        time_zone: None,
    })
}

/// Fixed, so that a run can be repeated from its corpus.
const JOB: &str = "0193a4f0-7b1c-7d2e-8f00-0123456789ab";
const NOW: i64 = 1_767_225_600;

fn signer() -> &'static LinkSigner {
    static SIGNER: OnceLock<LinkSigner> = OnceLock::new();
    SIGNER.get_or_init(|| LinkSigner::new(Some("fuzzing download secret")))
}

fn query<T: serde::de::DeserializeOwned>(path: &str, text: &str) -> Option<T> {
    let uri = format!("{path}?{text}").parse::<Uri>().ok()?;
    Query::<T>::try_from_uri(&uri).ok().map(|Query(value)| value)
}

fn assert_refusal(error: &ApiError, status: StatusCode) {
    assert_eq!(error.status_and_code().0, status, "{error}");
    assert!(!error.to_string().is_empty(), "a refusal without a message");
}

fn list(text: &str) {
    let Some(list) = query::<ListQuery>("/api/v1/jobs", text) else {
        return;
    };
    let token = list.page_token.clone().unwrap_or_default();
    let created_by = list.created_by.clone().unwrap_or_default();
    match list_request(caller(), list) {
        Ok(request) => {
            assert_eq!(request.account_id, caller().account.to_string());
            assert!(request.page_size <= 200);
            assert!(request.statuses.iter().all(|&status| (1..=4).contains(&status)));
            assert!(request.job_types.iter().all(|&job_type| (1..=3).contains(&job_type)));
            assert_eq!(request.created_by, created_by.trim());
            if let (Some(from), Some(to)) = (&request.created_from, &request.created_to) {
                assert!((from.seconds, from.nanos) < (to.seconds, to.nanos));
            }
        }
        Err(error) => assert_refusal(&error, StatusCode::BAD_REQUEST),
    }
    if let Ok(cursor) = Cursor::decode(&token) {
        assert_eq!(cursor.encode(), token, "a page token the registry did not write");
    }
}

fn link(text: &str) {
    let Some(link) = query::<LinkQuery>("/api/v1/downloads/acct-1/x", text) else {
        return;
    };
    let account = &caller().account;
    let job: JobId = JOB.parse().expect("a valid job id");
    let now = DateTime::<Utc>::from_timestamp(NOW, 0).expect("in range");
    match signer().check(account, job, link.expires, &link.signature, now) {
        Ok(()) => {
            assert!(link.expires >= NOW, "an expired link accepted");
            // The one signature of (account, job, expires), as the signer writes it.
            let made =
                DateTime::<Utc>::from_timestamp(link.expires, 0).expect("in range") - LINK_VALIDITY;
            let (path, _) = signer().link(account, job, made);
            let own = path.rsplit_once("signature=").expect("a signature").1;
            assert_eq!(link.signature.to_ascii_lowercase(), own, "a foreign signature accepted");
        }
        Err(error) => assert_refusal(&error, StatusCode::FORBIDDEN),
    }
}

fn sign_in(body: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<SignIn>(body) {
        let _ = request.user.len();
    }
}

fn start(text: &str) {
    let options = [
        query::<UploadQuery>("/api/v1/jobs/product-upload", text)
            .map(|upload| (upload.notify, upload.time_zone)),
        query::<DeleteClientQuery>("/api/v1/jobs/delete-client", text)
            .map(|delete| (delete.notify, delete.time_zone)),
    ];
    for (notify, time_zone) in options.into_iter().flatten() {
        match Recipient::of(caller(), notify.as_deref(), time_zone.as_deref()) {
            Ok(Recipient::OptedOut) => assert_eq!(notify.as_deref().map(str::trim), Some("false")),
            Ok(Recipient::User { time_zone: Some(zone), .. }) => {
                assert!(parse_time_zone(&zone).is_ok(), "time zone {zone:?} passed on unchecked");
            }
            Ok(_) => {}
            Err(error) => assert_refusal(&error, StatusCode::BAD_REQUEST),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    if choice % 4 == 2 {
        sign_in(rest);
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match choice % 4 {
        0 => list(text),
        1 => link(text),
        _ => start(text),
    }
});
