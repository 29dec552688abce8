use bgjobs_domain::JobType;
use jobsctl::dlq::{self, Selection};

use crate::helpers::{Death, stack};

#[tokio::test]
async fn listing_tells_job_account_cause_and_deaths_and_leaves_the_queue_as_it_was()
-> anyhow::Result<()> {
    let stack = stack().await?;
    let began = chrono::Utc::now();
    let rejected = stack.job("acme", JobType::ProductUpload).await?;
    stack.dead_letter(&rejected, Death::Rejected).await?;
    let over_limit = stack.job("globex", JobType::WarehouseUpload).await?;
    stack.dead_letter(&over_limit, Death::DeliveryLimit).await?;

    let now = chrono::Utc::now();
    let mut listed = Vec::new();
    dlq::scan(&stack.operator, &stack.names, &Selection::default(), |letter| {
        listed.push(dlq::summary(letter, now));
    })
    .await?;

    let rows: Vec<(&str, &str, &str, String, u64)> = listed
        .iter()
        .map(|row| {
            (
                row.job_id.as_str(),
                row.account_id.as_str(),
                row.job_type.as_str(),
                row.cause.clone(),
                row.deaths,
            )
        })
        .collect();
    let prefix = stack.names.prefix();
    assert_eq!(
        rows,
        [
            (
                rejected.job_id.as_str(),
                "acme",
                "product-upload",
                format!("rejected in {prefix}bgjobs.product-upload"),
                1
            ),
            (
                over_limit.job_id.as_str(),
                "globex",
                "warehouse-upload",
                format!("delivery_limit in {prefix}bgjobs.warehouse-upload"),
                1
            ),
        ]
    );
    // Deaths are stamped in whole seconds, so an age may be a second over the time passed.
    let most = (now - began).num_seconds() + 1;
    assert!(
        listed.iter().all(|row| row.age_secs.is_some_and(|age| (0..=most).contains(&age))),
        "ages {:?}, at most {most} s expected",
        listed.iter().map(|row| row.age_secs).collect::<Vec<_>>()
    );
    let json = serde_json::to_value(&listed)?;
    assert_eq!(json[0]["cause"], format!("rejected in {prefix}bgjobs.product-upload"));
    // Reading handed every message back.
    assert_eq!(stack.dead_letter_jobs(JobType::ProductUpload, 1).await?, [rejected.job_id]);

    let older = Selection { older_than: Some(chrono::Duration::hours(1)), ..Default::default() };
    let mut old = 0;
    dlq::scan(&stack.operator, &stack.names, &older, |_| old += 1).await?;
    assert_eq!(old, 0, "nothing was dead-lettered an hour ago");
    stack.stop().await
}

#[tokio::test]
async fn show_describes_the_headers_and_the_decoded_message() -> anyhow::Result<()> {
    let stack = stack().await?;
    let message = stack.job("acme", JobType::ProductUpload).await?;
    stack.dead_letter(&message, Death::DeliveryLimit).await?;

    let selection = Selection { job_ids: vec![message.job_id.parse()?], ..Default::default() };
    let mut shown = Vec::new();
    let now = chrono::Utc::now();
    dlq::scan(&stack.operator, &stack.names, &selection, |letter| {
        shown.push(dlq::details(letter, now));
    })
    .await?;

    assert_eq!(shown.len(), 1);
    let details = serde_json::to_value(&shown[0])?;
    assert_eq!(details["message_id"], format!("{}:1", message.job_id));
    assert_eq!(details["message"]["input_object_key"], message.input_object_key);
    assert_eq!(details["message"]["reference_ids"]["client_id"], "c-1");
    assert_eq!(details["headers"]["x-first-death-reason"], "delivery_limit");
    assert_eq!(details["headers"]["x-death"][0]["reason"], "delivery_limit");
    assert_eq!(details["headers"]["x-death"][0]["count"], 1);
    stack.stop().await
}
