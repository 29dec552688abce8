//! The notifier killed between recording a job's outcome and acknowledging its event
//! (it aborts there, as `kill -9` would), then started again: the event comes back
//! after the ack wait, and the user still gets exactly one email and the job's log one
//! line about it.

use std::path::Path;
use std::time::Duration;

use bgjobs_e2e::TestSystem;
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_test_support::{mail, unique_suffix};

/// The notifier with the crash planted (see `tests/bin/crashing_notifier.rs`).
const CRASHING_NOTIFIER: &str = env!("CARGO_BIN_EXE_e2e-crashing-notifier");
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_notifier_killed_between_receive_and_ack_sends_the_email_exactly_once()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let marker = std::env::temp_dir().join(format!("bgjobs-notifier-crash-{}", unique_suffix()));
    let marker_text = marker.to_string_lossy().into_owned();
    let env = system.notifier_env(
        "smtp://127.0.0.1:2525",
        &[("BGJOBS_TEST_ONLY_CRASH_MARKER", marker_text.as_str())],
    );
    let binary = Path::new(CRASHING_NOTIFIER);
    let mut first = ServiceProcess::start_with_env(binary, &env, "notifier/life-0", "faults")?;

    let to = format!("kim-{}@example.com", unique_suffix());
    let job_id =
        system.submit_products_as(&system.user_token(Some(&to)), product_file(10, &[]), "").await?;
    system.finished_job(&job_id, DEADLINE).await?;
    let (status, _) = first.exited(DEADLINE).await?;
    assert!(!status.success(), "the first notifier aborted: {status}");
    assert!(marker.exists(), "it crashed where the crash is planted");

    let second = ServiceProcess::start_with_env(binary, &env, "notifier/life-1", "faults")?;
    let received = mail::wait_for_mail(&to, DEADLINE).await?;
    // The unacknowledged event is delivered again after the 30 s ack wait; once the
    // consumer has settled it, nothing more can come.
    system.notifier_consumer_settled("notifier", DEADLINE).await?;
    assert_eq!(mail::received_by(&to)?.len(), 1, "exactly one email: {received:?}");
    let notes = system.log(&job_id).await?.into_iter().filter(|entry| entry.actor == "notifier");
    assert_eq!(
        notes.map(|entry| entry.message).collect::<Vec<_>>(),
        ["email sent to k***@example.com"]
    );

    second.kill()?;
    let _ = std::fs::remove_file(&marker);
    system.stop().await
}
