use bgjobs_domain::{AccountId, EventKind, JobType};
use bgjobs_messaging::amqp::{REPLAYED_BY_HEADER, REPLAYS_HEADER};
use bgjobs_proto::v1::GetJobRequest;
use jobsctl::dlq::{Outcome, Selection};
use lapin::types::{AMQPValue, LongString};

use crate::helpers::{Death, TestStack, stack};

const PRODUCTS: JobType = JobType::ProductUpload;

/// A job that failed: Error in the registry, its message in the DLQ.
async fn failed_job(stack: &TestStack, account: &str, death: Death) -> anyhow::Result<String> {
    let message = stack.job(account, PRODUCTS).await?;
    stack.report(&message, 1, EventKind::Started).await?;
    stack.report(&message, 2, EventKind::Failed).await?;
    stack.dead_letter(&message, death).await?;
    Ok(message.job_id)
}

fn only(job_id: &str) -> Selection {
    Selection { job_ids: vec![job_id.parse().expect("a job id")], ..Default::default() }
}

async fn job(
    stack: &TestStack,
    account: &str,
    job_id: &str,
) -> anyhow::Result<bgjobs_proto::v1::Job> {
    let request = GetJobRequest { account_id: account.into(), job_id: job_id.into() };
    let job = stack.registry.clone().get_job(request).await?.into_inner().job;
    Ok(job.expect("GetJob answers the job"))
}

#[tokio::test]
async fn a_replayed_job_is_back_on_its_queue_exactly_once_as_its_next_attempt() -> anyhow::Result<()>
{
    let stack = stack().await?;
    let job_id = failed_job(&stack, "acme", Death::DeliveryLimit).await?;

    let report = stack.replay(only(&job_id), false).await?;

    assert_eq!(report.outcomes, [Outcome::Replayed { job_id: job_id.clone(), attempt: 2 }]);
    assert_eq!(
        stack.dead_letter_jobs(PRODUCTS, 0).await?,
        Vec::<String>::new(),
        "the DLQ is empty"
    );
    let taken = stack.take_job_messages(PRODUCTS).await?;
    assert_eq!(taken.len(), 1, "exactly one message is back: {taken:?}");
    let replayed = &taken[0];
    assert_eq!((replayed.message.job_id.as_str(), replayed.message.attempt), (job_id.as_str(), 2));
    assert_eq!(replayed.message_id, Some(format!("{job_id}:2")));
    let header = |name: &str| replayed.headers.inner().get(name).cloned();
    assert_eq!(header(REPLAYS_HEADER), Some(AMQPValue::LongLongInt(1)));
    assert_eq!(header(REPLAYED_BY_HEADER), Some(AMQPValue::LongString(LongString::from("oscar"))));
    assert_eq!(header("x-death"), None, "the broker's bookkeeping starts afresh");

    let job = job(&stack, "acme", &job_id).await?;
    assert_eq!((job.status(), job.attempt), (bgjobs_proto::v1::JobStatus::New, 2));
    let log = stack
        .store
        .jobs()
        .job_events(&AccountId::parse("acme")?, job_id.parse()?)
        .await?
        .expect("logged");
    let line = log.last().expect("the replay is in the log");
    assert_eq!(line.actor, "oscar");
    assert_eq!(
        line.message,
        "oscar replayed the job from the dead-letter queue: cause fixed; queued as attempt 2"
    );
    stack.stop().await
}

#[tokio::test]
async fn a_dry_run_changes_nothing() -> anyhow::Result<()> {
    let stack = stack().await?;
    let first = failed_job(&stack, "acme", Death::Rejected).await?;
    let second = failed_job(&stack, "acme", Death::DeliveryLimit).await?;

    let report = stack.replay(Selection::default(), true).await?;

    let would = |job_id: &str| Outcome::WouldReplay { job_id: job_id.to_owned() };
    assert_eq!(report.outcomes, [would(&first), would(&second)]);
    assert_eq!(stack.dead_letter_jobs(PRODUCTS, 2).await?, [first.clone(), second]);
    assert!(stack.take_job_messages(PRODUCTS).await?.is_empty());
    let job = job(&stack, "acme", &first).await?;
    assert_eq!((job.status(), job.attempt), (bgjobs_proto::v1::JobStatus::Error, 1));
    let log = stack
        .store
        .jobs()
        .job_events(&AccountId::parse("acme")?, first.parse()?)
        .await?
        .expect("logged");
    assert_eq!(log.len(), 2, "only the worker's events: {log:?}");
    stack.stop().await
}

#[tokio::test]
async fn filters_pick_by_account_and_cause_and_the_rest_keep_their_order() -> anyhow::Result<()> {
    let stack = stack().await?;
    let rejected = failed_job(&stack, "acme", Death::Rejected).await?;
    let other_account = failed_job(&stack, "globex", Death::DeliveryLimit).await?;
    let picked = failed_job(&stack, "acme", Death::DeliveryLimit).await?;
    let last = failed_job(&stack, "acme", Death::Rejected).await?;

    let selection = Selection {
        account: Some("acme".into()),
        cause: Some("DELIVERY_LIMIT".into()),
        ..Default::default()
    };
    let report = stack.replay(selection, false).await?;

    assert_eq!(report.outcomes, [Outcome::Replayed { job_id: picked.clone(), attempt: 2 }]);
    assert_eq!(report.not_selected, 3);
    assert_eq!(stack.dead_letter_jobs(PRODUCTS, 3).await?, [rejected, other_account, last]);
    let taken = stack.take_job_messages(PRODUCTS).await?;
    assert_eq!(taken.iter().map(|t| t.message.job_id.clone()).collect::<Vec<_>>(), [picked]);
    stack.stop().await
}

#[tokio::test]
async fn a_type_filter_reads_only_that_types_dead_letter_queue() -> anyhow::Result<()> {
    let stack = stack().await?;
    let product = failed_job(&stack, "acme", Death::Rejected).await?;
    let deletion = stack.job("acme", JobType::DeleteClient).await?;
    stack.report(&deletion, 1, EventKind::Failed).await?;
    stack.dead_letter(&deletion, Death::Rejected).await?;

    let selection = Selection { job_type: Some(JobType::DeleteClient), ..Default::default() };
    let report = stack.replay(selection, false).await?;

    let replayed = Outcome::Replayed { job_id: deletion.job_id.clone(), attempt: 2 };
    assert_eq!((report.outcomes, report.not_selected), (vec![replayed], 0));
    assert_eq!(stack.dead_letter_jobs(PRODUCTS, 1).await?, [product]);
    assert_eq!(stack.take_job_messages(JobType::DeleteClient).await?.len(), 1);
    stack.stop().await
}

#[tokio::test]
async fn running_and_finished_jobs_stay_in_the_dlq_and_an_unregistered_one_is_replayed_as_it_is()
-> anyhow::Result<()> {
    let stack = stack().await?;
    let running = stack.job("acme", PRODUCTS).await?;
    stack.report(&running, 1, EventKind::Started).await?;
    stack.dead_letter(&running, Death::Rejected).await?;
    let done = stack.job("acme", PRODUCTS).await?;
    stack.report(&done, 1, EventKind::Started).await?;
    stack.report(&done, 2, EventKind::Completed).await?;
    stack.dead_letter(&done, Death::Rejected).await?;
    let unregistered =
        crate::helpers::message_of(&uuid::Uuid::now_v7().to_string(), "acme", PRODUCTS);
    stack.dead_letter(&unregistered, Death::Rejected).await?;

    let report = stack
        .replay(Selection { account: Some("acme".into()), ..Default::default() }, false)
        .await?;

    let kept: Vec<&str> = report
        .outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Refused { job_id, .. } => Some(job_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kept, [running.job_id.as_str(), done.job_id.as_str()]);
    assert!(report.outcomes[0].describe().contains("In Progress"), "{report:?}");
    assert_eq!(
        report.outcomes[2],
        Outcome::ReplayedUnregistered { job_id: unregistered.job_id.clone() }
    );
    assert_eq!(stack.dead_letter_jobs(PRODUCTS, 2).await?, [running.job_id.clone(), done.job_id]);
    let taken = stack.take_job_messages(PRODUCTS).await?;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].message, unregistered, "replayed unchanged");
    let status = job(&stack, "acme", &running.job_id).await?.status();
    assert_eq!(status, bgjobs_proto::v1::JobStatus::InProgress);
    stack.stop().await
}

#[tokio::test]
async fn a_message_replayed_twice_counts_its_replays() -> anyhow::Result<()> {
    let stack = stack().await?;
    let job_id = failed_job(&stack, "acme", Death::Rejected).await?;
    stack.replay(only(&job_id), false).await?;
    // The second attempt fails and is dead-lettered again, with the replay's headers.
    let mut second = stack.take_job_messages(PRODUCTS).await?.remove(0);
    let message = second.message.clone();
    stack.report(&message, 1, EventKind::Started).await?;
    stack.report(&message, 2, EventKind::Failed).await?;
    stack.dead_letter_with(&message, std::mem::take(&mut second.headers), Death::Rejected).await?;

    let report = stack.replay(only(&job_id), false).await?;

    assert_eq!(report.outcomes, [Outcome::Replayed { job_id: job_id.clone(), attempt: 3 }]);
    let third = stack.take_job_messages(PRODUCTS).await?.remove(0);
    assert_eq!(third.headers.inner().get(REPLAYS_HEADER), Some(&AMQPValue::LongLongInt(2)));
    stack.stop().await
}
