//! Which dead-lettered messages an operator means: by job id, type, account, age and
//! cause, or all of them.

use bgjobs_domain::{JobId, JobType};
use bgjobs_messaging::amqp::DlqMessage;
use chrono::{DateTime, Duration, Utc};

/// A choice of dead letters; every given criterion must hold (an empty one holds always).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Only these jobs (any job when empty).
    pub job_ids: Vec<JobId>,
    /// Only this job type's dead-letter queue (every type's when `None`).
    pub job_type: Option<JobType>,
    /// Only jobs of this account.
    pub account: Option<String>,
    /// Only messages dead-lettered longer ago than this.
    pub older_than: Option<Duration>,
    /// Only messages whose cause contains this text (case-insensitive).
    pub cause: Option<String>,
}

impl Selection {
    /// True when nothing narrows the selection: every dead letter is meant.
    pub fn is_everything(&self) -> bool {
        *self == Self::default()
    }

    /// The job types whose dead-letter queues hold the selected messages.
    pub fn job_types(&self) -> Vec<JobType> {
        match self.job_type {
            Some(job_type) => vec![job_type],
            None => JobType::ALL.to_vec(),
        }
    }

    /// True when `letter` is selected, at time `now`.
    pub fn matches(&self, letter: &DlqMessage, now: DateTime<Utc>) -> bool {
        let message = letter.message.as_ref().ok();
        let job_matches = self.job_ids.is_empty()
            || message
                .and_then(|message| message.job_id.parse::<JobId>().ok())
                .is_some_and(|job| self.job_ids.contains(&job));
        let account_matches = self
            .account
            .as_ref()
            .is_none_or(|account| message.is_some_and(|message| &message.account_id == account));
        let age_matches = self.older_than.is_none_or(|older_than| {
            letter.dead_lettered_at().is_some_and(|at| now - at > older_than)
        });
        let cause_matches = self
            .cause
            .as_ref()
            .is_none_or(|cause| letter.cause().to_lowercase().contains(&cause.to_lowercase()));
        self.job_type.is_none_or(|job_type| job_type == letter.job_type)
            && job_matches
            && account_matches
            && age_matches
            && cause_matches
    }
}

/// Parses an age such as `90s`, `15m`, `2h` or `3d` (a bare number is seconds).
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let explain =
        || format!("'{text}' is not an age; write a whole number and a unit: 90s, 15m, 2h or 3d");
    let number: i64 = number.parse().map_err(|_| explain())?;
    let seconds_per_unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(explain()),
    };
    number
        .checked_mul(seconds_per_unit)
        .and_then(Duration::try_seconds)
        .ok_or_else(|| format!("'{text}' is too long an age"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_a_unit_of_seconds_minutes_hours_or_days() {
        assert_eq!(parse_age("90"), Ok(Duration::seconds(90)));
        assert_eq!(parse_age("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_age("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_age(" 3d "), Ok(Duration::days(3)));
        for bad in ["", "m", "1.5h", "2w", "-1h", "h2"] {
            let error = parse_age(bad).expect_err(bad);
            assert!(error.contains("90s, 15m, 2h or 3d"), "{error}");
        }
    }

    #[test]
    fn an_empty_selection_means_everything_of_every_type() {
        assert!(Selection::default().is_everything());
        assert_eq!(Selection::default().job_types(), JobType::ALL.to_vec());
        let one_type = Selection { job_type: Some(JobType::DeleteClient), ..Default::default() };
        assert!(!one_type.is_everything());
        assert_eq!(one_type.job_types(), vec![JobType::DeleteClient]);
    }
}
