//! What `dlq list` and `dlq show` tell of a dead letter, as a table row or JSON.

use bgjobs_messaging::amqp::DlqMessage;
use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable};
use serde::Serialize;
use serde_json::{Value, json};

/// One line of `dlq list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LetterSummary {
    /// The job id, or "?" when the body is not a job message.
    pub job_id: String,
    /// The job's account, or "?".
    pub account_id: String,
    /// The job type (of the dead-letter queue it is in).
    pub job_type: String,
    /// The attempt the message was published for.
    pub attempt: u32,
    /// Why it was dead-lettered, e.g. "delivery_limit in bgjobs.product-upload".
    pub cause: String,
    /// How many times it was dead-lettered since it was last published.
    pub deaths: u64,
    /// How many times operators replayed it before.
    pub replays: u32,
    /// When it was last dead-lettered, if known.
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// Seconds since then, if known.
    pub age_secs: Option<i64>,
}

/// The summary of `letter` at time `now`.
pub fn summary(letter: &DlqMessage, now: DateTime<Utc>) -> LetterSummary {
    let message = letter.message.as_ref().ok();
    let unknown = || "?".to_owned();
    LetterSummary {
        job_id: message.map(|message| message.job_id.clone()).unwrap_or_else(unknown),
        account_id: message.map(|message| message.account_id.clone()).unwrap_or_else(unknown),
        job_type: letter.job_type.as_str().to_owned(),
        attempt: message.map(|message| message.attempt).unwrap_or(0),
        cause: letter.cause(),
        deaths: letter.death_count(),
        replays: letter.replays(),
        dead_lettered_at: letter.dead_lettered_at(),
        age_secs: letter.dead_lettered_at().map(|at| (now - at).num_seconds()),
    }
}

/// Everything `dlq show` tells of one dead letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LetterDetails {
    /// The dead-letter queue it is in.
    pub queue: String,
    /// The AMQP message id, `<job id>:<attempt>`.
    pub message_id: Option<String>,
    /// Its summary.
    #[serde(flatten)]
    pub summary: LetterSummary,
    /// Every header, `x-death` included, as JSON.
    pub headers: Value,
    /// The job message decoded, or why the body is not one.
    pub message: Value,
}

/// The details of `letter` at time `now`.
pub fn details(letter: &DlqMessage, now: DateTime<Utc>) -> LetterDetails {
    let message = match &letter.message {
        Ok(message) => {
            let references = message.reference_ids.clone().unwrap_or_default();
            let parameters = serde_json::from_str::<Value>(&message.parameters_json)
                .unwrap_or_else(|_| Value::String(message.parameters_json.clone()));
            json!({
                "job_id": message.job_id,
                "account_id": message.account_id,
                "job_type": letter.job_type.as_str(),
                "attempt": message.attempt,
                "input_object_key": message.input_object_key,
                "parameters": parameters,
                "reference_ids": {
                    "client_id": references.client_id,
                    "user_id": references.user_id,
                    "warehouse_id": references.warehouse_id,
                },
                "created_by": message.created_by,
            })
        }
        Err(error) => json!({ "undecodable": error }),
    };
    LetterDetails {
        queue: letter.queue.clone(),
        message_id: letter.message_id.clone(),
        summary: summary(letter, now),
        headers: table_json(&letter.headers),
        message,
    }
}

/// The table `dlq list` prints.
pub fn table(letters: &[LetterSummary]) -> String {
    let mut lines = vec![format!(
        "{:<36}  {:<16}  {:<16}  {:>7}  {:>6}  {:>7}  {:>8}  CAUSE",
        "JOB", "ACCOUNT", "TYPE", "ATTEMPT", "DEATHS", "REPLAYS", "AGE"
    )];
    for letter in letters {
        lines.push(format!(
            "{:<36}  {:<16}  {:<16}  {:>7}  {:>6}  {:>7}  {:>8}  {}",
            letter.job_id,
            letter.account_id,
            letter.job_type,
            letter.attempt,
            letter.deaths,
            letter.replays,
            letter.age_secs.map(age).unwrap_or_else(|| "?".to_owned()),
            letter.cause
        ));
    }
    lines.join("\n")
}

/// An age in seconds as the two largest units: "45s", "3m 20s", "2h 5m", "4d 3h".
pub fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {}s", seconds % 60),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

fn table_json(table: &FieldTable) -> Value {
    Value::Object(
        table.inner().iter().map(|(name, value)| (name.to_string(), value_json(value))).collect(),
    )
}

fn value_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(flag) => json!(flag),
        AMQPValue::ShortShortInt(number) => json!(number),
        AMQPValue::ShortShortUInt(number) => json!(number),
        AMQPValue::ShortInt(number) => json!(number),
        AMQPValue::ShortUInt(number) => json!(number),
        AMQPValue::LongInt(number) => json!(number),
        AMQPValue::LongUInt(number) => json!(number),
        AMQPValue::LongLongInt(number) => json!(number),
        AMQPValue::Float(number) => json!(number),
        AMQPValue::Double(number) => json!(number),
        AMQPValue::DecimalValue(decimal) => json!(format!("{decimal:?}")),
        AMQPValue::ShortString(text) => json!(text.as_str()),
        AMQPValue::LongString(text) => json!(String::from_utf8_lossy(text.as_bytes())),
        AMQPValue::ByteArray(bytes) => json!(format!("{} bytes", bytes.as_slice().len())),
        AMQPValue::FieldArray(values) => {
            Value::Array(values.as_slice().iter().map(value_json).collect())
        }
        AMQPValue::Timestamp(seconds) => i64::try_from(*seconds)
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .map(|time| json!(time.to_rfc3339()))
            .unwrap_or_else(|| json!(seconds)),
        AMQPValue::FieldTable(table) => table_json(table),
        AMQPValue::Void => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_show_their_two_largest_units() {
        assert_eq!(age(-3), "0s");
        assert_eq!(age(45), "45s");
        assert_eq!(age(200), "3m 20s");
        assert_eq!(age(7_500), "2h 5m");
        assert_eq!(age(356_400), "4d 3h");
    }
}
