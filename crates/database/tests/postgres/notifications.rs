//! The notifier's record: one row per job outcome, claims that are leases, a row
//! finished once.

use std::time::Duration;

use bgjobs_database::jobs::Counters;
use bgjobs_database::notifications::{Key, NewNotification, Outcome, State};
use bgjobs_domain::JobId;
use chrono::Utc;

use crate::support::{account, fresh_store};

fn outcome(job_id: JobId, outcome: Outcome) -> NewNotification {
    NewNotification {
        key: Key { job_id, attempt: 1, outcome },
        account_id: account("acme"),
        message: "998 of 1,000 rows imported, 2 rejected".to_owned(),
        counters: Some(Counters { rows_total: 1000, rows_processed: 1000, rows_rejected: 2 }),
        result_object_key: None,
        occurred_at: Utc::now(),
        give_up_after: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn an_outcome_is_recorded_once_and_each_outcome_of_a_job_separately() -> anyhow::Result<()> {
    let store = fresh_store().await?.notifications();
    let job = JobId::new();
    assert!(store.record(&outcome(job, Outcome::Completed)).await?);
    let mut repeated = outcome(job, Outcome::Completed);
    repeated.message = "a later copy says otherwise".to_owned();
    assert!(!store.record(&repeated).await?, "the same outcome again");
    assert!(store.record(&outcome(job, Outcome::Failed)).await?, "another outcome");

    let recorded = store.get(outcome(job, Outcome::Completed).key).await?.expect("recorded");
    assert_eq!(recorded.message, "998 of 1,000 rows imported, 2 rejected");
    assert_eq!((recorded.state, recorded.tries), (State::Pending, 0));
    Ok(())
}

#[tokio::test]
async fn a_claim_holds_until_its_lease_runs_out_and_a_row_is_finished_once() -> anyhow::Result<()> {
    let store = fresh_store().await?.notifications();
    let new = outcome(JobId::new(), Outcome::Completed);
    store.record(&new).await?;

    let first = store.claim_due("sender-a", Duration::from_millis(300), 10).await?;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].tries, 1);
    assert!(store.claim_due("sender-b", Duration::from_secs(60), 10).await?.is_empty(), "leased");

    // sender-a dies; once its lease has run out, sender-b takes the row over.
    let taken_over = bgjobs_test_support::wait::until(
        "the lease to run out",
        Duration::from_secs(10),
        || async {
            let claimed = store.claim_due("sender-b", Duration::from_secs(60), 10).await?;
            Ok((!claimed.is_empty()).then_some(claimed))
        },
    )
    .await?;
    assert_eq!(taken_over[0].tries, 2);

    assert!(store.finish(new.key, State::Sent, Some("vera@example.com"), None).await?);
    assert!(!store.finish(new.key, State::Failed, None, Some("late")).await?, "finished once");
    let sent = store.get(new.key).await?.expect("recorded");
    assert_eq!((sent.state, sent.recipient.as_deref()), (State::Sent, Some("vera@example.com")));

    // Sent but not yet noted in the job's log: it comes back for the note, then is done.
    store.try_later(new.key, Duration::ZERO, "the registry did not answer").await?;
    let for_the_note = store.claim_due("sender-b", Duration::from_secs(60), 10).await?;
    assert_eq!((for_the_note.len(), for_the_note[0].tries), (1, 2), "a note is not a try");
    store.noted(new.key).await?;
    store.try_later(new.key, Duration::ZERO, "").await?;
    assert!(store.claim_due("sender-b", Duration::from_secs(60), 10).await?.is_empty());
    Ok(())
}
