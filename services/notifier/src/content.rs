//! What an email says: its subject and its text and HTML bodies, rendered from the
//! templates in `templates/` (the same view for both, so they never disagree).

use askama::Template;
use bgjobs_database::notifications::{Notification, Outcome};
use bgjobs_domain::JobType;
use bgjobs_domain::upload::results::thousands;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::mailer::Email;

/// The most rejected rows an email lists; the results file has them all.
pub const MAX_REJECTED_ROWS: usize = 10;
/// The longest subject: an error message can be long, a subject line should not be.
const MAX_SUBJECT_CHARS: usize = 160;

/// A rejected row of the results file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Its line in the input file.
    pub row: u64,
    /// Its key (SKU, location code), when it had one.
    pub key: String,
    /// Why it was rejected.
    pub reason: String,
}

/// What the registry knows of the job that the email shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFacts {
    /// What the job does.
    pub job_type: JobType,
    /// The uploaded file's name.
    pub file_name: Option<String>,
    /// The client it concerns.
    pub client_id: Option<String>,
    /// The warehouse it concerns.
    pub warehouse_id: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The recipient's IANA time zone, when known.
    pub time_zone: Option<String>,
}

/// The email about `notification`, to `to`, linking to the job on `page_url`.
/// `message_id_domain` ends its Message-ID, which is the same whenever this outcome
/// is sent.
pub fn compose(
    notification: &Notification,
    job: &JobFacts,
    rejected: &[RejectedRow],
    to: &str,
    page_url: &str,
    message_id_domain: &str,
) -> Result<Email, askama::Error> {
    let view = View::new(notification, job, rejected, page_url);
    let key = notification.key;
    Ok(Email {
        to: to.to_owned(),
        subject: view.subject.clone(),
        text: TextBody { view: &view }.render()?,
        html: HtmlBody { view: &view }.render()?,
        message_id: format!(
            "{}.{}.{}@{message_id_domain}",
            key.job_id,
            key.attempt,
            key.outcome.as_str()
        ),
    })
}

#[derive(Template)]
#[template(path = "ended.txt")]
struct TextBody<'a> {
    view: &'a View,
}

#[derive(Template)]
#[template(path = "ended.html")]
struct HtmlBody<'a> {
    view: &'a View,
}

/// Everything the templates show, worked out once.
struct View {
    subject: String,
    headline: String,
    summary: String,
    details: Vec<(&'static str, String)>,
    rejected: Vec<RejectedRow>,
    more_rejected: u64,
    more_rejected_text: String,
    link: String,
}

impl View {
    fn new(
        notification: &Notification,
        job: &JobFacts,
        rejected: &[RejectedRow],
        page_url: &str,
    ) -> Self {
        let job_type = job.job_type.display_name();
        let (ended, verb) = match notification.key.outcome {
            Outcome::Completed => ("completed", "completed"),
            Outcome::Failed => ("failed", "failed"),
        };
        let summary = notification.message.trim().to_owned();
        let subject = shorten(&format!("{job_type} {ended}: {summary}"), MAX_SUBJECT_CHARS);
        let headline = match &job.file_name {
            Some(file) => format!("Your {job_type} of {file} {verb}."),
            None => format!("Your {job_type} job {verb}."),
        };
        let mut details = Vec::new();
        if let Some(file) = &job.file_name {
            details.push(("File", file.clone()));
        }
        if let Some(client) = &job.client_id {
            details.push(("Client", client.clone()));
        }
        if let Some(warehouse) = &job.warehouse_id {
            details.push(("Warehouse", warehouse.clone()));
        }
        details.push(("Started", local_time(job.created_at, job.time_zone.as_deref())));
        if notification.key.attempt > 1 {
            details.push(("Attempt", notification.key.attempt.to_string()));
        }
        if let (Some(counters), true) =
            (notification.counters, job.job_type != JobType::DeleteClient)
        {
            let imported = counters.rows_processed.saturating_sub(counters.rows_rejected);
            details.push((
                "Rows",
                format!(
                    "{} in the file, {} imported, {} rejected",
                    thousands(counters.rows_total),
                    thousands(imported),
                    thousands(counters.rows_rejected)
                ),
            ));
        }
        let shown = rejected.iter().take(MAX_REJECTED_ROWS).cloned().collect::<Vec<_>>();
        let rejected_total = notification.counters.map_or(0, |counters| counters.rows_rejected);
        let more_rejected = rejected_total.saturating_sub(shown.len() as u64);
        Self {
            subject,
            headline,
            summary,
            details,
            more_rejected_text: thousands(more_rejected),
            more_rejected: if shown.is_empty() { 0 } else { more_rejected },
            rejected: shown,
            link: format!("{}/?job={}", page_url.trim_end_matches('/'), notification.key.job_id),
        }
    }
}

/// `time` in `zone` (an IANA name) as "2 December 2026, 17:04 CET (Europe/Paris)";
/// in UTC when the zone is unknown or not given.
fn local_time(time: DateTime<Utc>, zone: Option<&str>) -> String {
    match zone.and_then(|name| name.parse::<Tz>().ok()) {
        Some(tz) => {
            format!("{} ({tz})", time.with_timezone(&tz).format("%-d %B %Y, %H:%M %Z"))
        }
        None => time.format("%-d %B %Y, %H:%M UTC").to_string(),
    }
}

/// `text` cut to `max` characters, with "…" when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use bgjobs_database::jobs::Counters;
    use bgjobs_database::notifications::{Key, State};
    use bgjobs_domain::{AccountId, JobId};
    use chrono::TimeZone;

    use super::*;

    fn notification(outcome: Outcome, message: &str, counters: Option<Counters>) -> Notification {
        Notification {
            key: Key { job_id: JobId::new(), attempt: 1, outcome },
            account_id: AccountId::parse("acme").expect("valid"),
            message: message.to_owned(),
            counters,
            result_object_key: None,
            occurred_at: Utc::now(),
            state: State::Pending,
            recipient: None,
            tries: 1,
            last_error: None,
            give_up_at: Utc::now(),
        }
    }

    fn upload() -> JobFacts {
        JobFacts {
            job_type: JobType::ProductUpload,
            file_name: Some("products <spring>.csv".to_owned()),
            client_id: Some("client-1".to_owned()),
            warehouse_id: None,
            created_at: Utc.with_ymd_and_hms(2026, 12, 2, 16, 4, 0).single().expect("a time"),
            time_zone: Some("Europe/Paris".to_owned()),
        }
    }

    fn rejected(count: u64) -> Vec<RejectedRow> {
        (1..=count)
            .map(|n| RejectedRow {
                row: n + 1,
                key: format!("SKU-{n}"),
                reason: "price is negative".into(),
            })
            .collect()
    }

    #[test]
    fn a_completed_upload_says_what_was_imported_and_lists_rejected_rows() {
        let counters = Counters { rows_total: 1000, rows_processed: 1000, rows_rejected: 12 };
        let ended = notification(
            Outcome::Completed,
            "988 of 1,000 rows imported, 12 rejected",
            Some(counters),
        );
        let email = compose(
            &ended,
            &upload(),
            &rejected(10),
            "vera@example.com",
            "https://jobs.example.com/",
            "example.com",
        )
        .expect("renders");
        assert_eq!(
            email.subject,
            "Product Upload completed: 988 of 1,000 rows imported, 12 rejected"
        );
        assert_eq!(email.message_id, format!("{}.1.completed@example.com", ended.key.job_id));
        let link = format!("https://jobs.example.com/?job={}", ended.key.job_id);
        for expected in [
            "Your Product Upload of products <spring>.csv completed.",
            "Client: client-1",
            "Started: 2 December 2026, 17:04 CET (Europe/Paris)",
            "Rows: 1,000 in the file, 988 imported, 12 rejected",
            "  Row 2 (SKU-1): price is negative",
            "  Row 11 (SKU-10): price is negative",
            "  and 2 more: the results file on the page lists every row.",
            link.as_str(),
        ] {
            assert!(email.text.contains(expected), "{expected:?} in:\n{}", email.text);
        }
        assert!(
            email.html.contains("products &#60;spring&#62;.csv")
                || email.html.contains("products &lt;spring&gt;.csv"),
            "{}",
            email.html
        );
        assert!(email.html.contains(&format!("<a href=\"{link}\">")), "{}", email.html);
        assert!(email.html.contains("<td>price is negative</td>"), "{}", email.html);
    }

    #[test]
    fn a_failure_names_the_error_and_times_default_to_utc() {
        let ended = notification(Outcome::Failed, "the header has no location_code column", None);
        let facts = JobFacts {
            job_type: JobType::WarehouseUpload,
            time_zone: Some("Mars/Olympus_Mons".to_owned()),
            client_id: None,
            ..upload()
        };
        let email =
            compose(&ended, &facts, &[], "v@example.com", "http://127.0.0.1:8080", "localhost")
                .expect("renders");
        assert_eq!(
            email.subject,
            "Warehouse Upload failed: the header has no location_code column"
        );
        assert!(email.text.contains("Started: 2 December 2026, 16:04 UTC"), "{}", email.text);
        assert!(!email.text.contains("Rejected rows"), "{}", email.text);
        assert!(!email.text.contains("Client:"), "{}", email.text);
    }

    #[test]
    fn a_long_message_makes_a_short_subject() {
        let ended = notification(Outcome::Failed, &"x".repeat(500), None);
        let email =
            compose(&ended, &upload(), &[], "v@example.com", "http://h", "h").expect("renders");
        assert_eq!(email.subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(email.subject.ends_with('…'));
        assert!(email.text.contains(&"x".repeat(500)), "the body keeps the whole message");
    }
}
