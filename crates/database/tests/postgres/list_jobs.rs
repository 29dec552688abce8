use std::collections::HashSet;

use bgjobs_database::jobs::{JobFilter, PageRequest};
use bgjobs_database::{Error, Store};
use bgjobs_domain::{AccountId, EventKind, JobId, JobStatus, JobType};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::support::{account, event, fresh_store, new_job, set_created_at};

/// Midnight of 1 March 2025, UTC; test jobs are created on the days after it.
fn day(offset: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().expect("a valid date")
        + Duration::days(offset)
}

/// Creates a job of `job_type` by `created_by` at `created_at`, moved to In Progress when asked.
async fn job_at(
    store: &Store,
    acme: &AccountId,
    job_type: JobType,
    created_by: &str,
    created_at: DateTime<Utc>,
    started: bool,
) -> anyhow::Result<JobId> {
    let mut request = new_job(acme, created_by);
    request.job_type = job_type;
    if job_type == JobType::DeleteClient {
        // A client of its own: an unfinished deletion refuses new uploads for its client.
        request.reference_ids.client_id = Some("client-deleted".to_owned());
    }
    let (job, _) = store.jobs().create_job(request).await?;
    set_created_at(store, job.job_id, created_at).await?;
    if started {
        store.jobs().record_event(event(acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    }
    Ok(job.job_id)
}

async fn listed(store: &Store, filter: &JobFilter) -> anyhow::Result<Vec<JobId>> {
    let page = store.jobs().list_jobs(filter, &PageRequest { size: 200, after: None }).await?;
    assert_eq!(page.next, None);
    Ok(page.jobs.into_iter().map(|job| job.job_id).collect())
}

#[tokio::test]
async fn jobs_are_listed_newest_first_and_only_for_their_account() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    let oldest = job_at(&store, &acme, JobType::ProductUpload, "alice", day(1), false).await?;
    let newest = job_at(&store, &acme, JobType::ProductUpload, "alice", day(3), false).await?;
    let middle = job_at(&store, &acme, JobType::ProductUpload, "alice", day(2), false).await?;
    job_at(&store, &globex, JobType::ProductUpload, "alice", day(2), false).await?;

    assert_eq!(listed(&store, &JobFilter::account(acme)).await?, vec![newest, middle, oldest]);
    Ok(())
}

#[tokio::test]
async fn created_by_matches_the_account_s_own_creators_and_pages_through_all_of_them()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    // Creators on both sides of the matching ones in the creator index, and one that
    // only another account has.
    let mut expected = Vec::new();
    for (index, creator) in ["aaron", "carol.one", "bob", "Carol.Two", "zed"].iter().enumerate() {
        for copy in 0..3 {
            let at = day(0) + Duration::minutes(index as i64 * 10 + copy);
            let job = job_at(&store, &acme, JobType::ProductUpload, creator, at, false).await?;
            if creator.to_lowercase().starts_with("carol") {
                expected.push(job);
            }
        }
    }
    job_at(&store, &globex, JobType::ProductUpload, "dave", day(1), false).await?;
    expected.reverse();

    let carol =
        JobFilter { created_by: Some("carol".to_owned()), ..JobFilter::account(acme.clone()) };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.jobs().list_jobs(&carol, &PageRequest { size: 4, after }).await?;
        seen.extend(page.jobs.iter().map(|job| job.job_id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "Carol's six jobs, newest first, over two pages");

    let another_account_s =
        JobFilter { created_by: Some("dave".to_owned()), ..JobFilter::account(acme) };
    assert_eq!(listed(&store, &another_account_s).await?, Vec::<JobId>::new());
    Ok(())
}

#[tokio::test]
async fn each_filter_narrows_the_list_and_filters_combine() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let alice_upload =
        job_at(&store, &acme, JobType::ProductUpload, "Alice@Acme.test", day(1), false).await?;
    let bob_running =
        job_at(&store, &acme, JobType::WarehouseUpload, "bob@acme.test", day(2), true).await?;
    let alice_delete =
        job_at(&store, &acme, JobType::DeleteClient, "alice@acme.test", day(3), true).await?;
    let percent_user =
        job_at(&store, &acme, JobType::ProductUpload, "50%_off@acme.test", day(4), false).await?;
    let all = JobFilter::account(acme.clone());

    let in_progress = JobFilter { statuses: vec![JobStatus::InProgress], ..all.clone() };
    assert_eq!(listed(&store, &in_progress).await?, vec![alice_delete, bob_running]);

    let new_or_done =
        JobFilter { statuses: vec![JobStatus::New, JobStatus::Completed], ..all.clone() };
    assert_eq!(listed(&store, &new_or_done).await?, vec![percent_user, alice_upload]);

    let uploads = JobFilter {
        job_types: vec![JobType::ProductUpload, JobType::WarehouseUpload],
        ..all.clone()
    };
    assert_eq!(listed(&store, &uploads).await?, vec![percent_user, bob_running, alice_upload]);

    let by_alice = JobFilter { created_by: Some("ALICE".to_owned()), ..all.clone() };
    assert_eq!(listed(&store, &by_alice).await?, vec![alice_delete, alice_upload]);

    // LIKE wildcards in the search text are literal characters.
    let by_percent = JobFilter { created_by: Some("%_".to_owned()), ..all.clone() };
    assert_eq!(listed(&store, &by_percent).await?, vec![percent_user]);

    let from_day_two = JobFilter { created_from: Some(day(2)), ..all.clone() };
    assert_eq!(listed(&store, &from_day_two).await?, vec![percent_user, alice_delete, bob_running]);

    let before_day_three = JobFilter { created_to: Some(day(3)), ..all.clone() };
    assert_eq!(listed(&store, &before_day_three).await?, vec![bob_running, alice_upload]);

    let combined = JobFilter {
        statuses: vec![JobStatus::InProgress],
        job_types: vec![JobType::DeleteClient, JobType::WarehouseUpload],
        created_by: Some("acme.test".to_owned()),
        created_from: Some(day(2)),
        created_to: Some(day(3)),
        ..all.clone()
    };
    assert_eq!(listed(&store, &combined).await?, vec![bob_running]);

    let nothing = JobFilter { created_by: Some("carol".to_owned()), ..all };
    assert_eq!(listed(&store, &nothing).await?, Vec::<JobId>::new());
    Ok(())
}

#[tokio::test]
async fn pages_cover_every_job_exactly_once_in_order() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let mut expected = Vec::new();
    for index in 0..25 {
        // Pairs of jobs share a creation time, so the job id must break the tie.
        let at = day(0) + Duration::minutes(index / 2);
        let job_id = job_at(&store, &acme, JobType::ProductUpload, "alice", at, false).await?;
        expected.push((at, job_id));
    }
    expected.sort_by(|left, right| right.cmp(left));
    let filter = JobFilter::account(acme);

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.jobs().list_jobs(&filter, &PageRequest { size: 10, after }).await?;
        pages += 1;
        seen.extend(page.jobs.iter().map(|job| (job.created_at, job.job_id)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(seen.iter().map(|(_, id)| *id).collect::<HashSet<_>>().len(), 25, "duplicates");
    assert_eq!(seen, expected);
    Ok(())
}

#[tokio::test]
async fn page_sizes_default_to_50_and_stop_at_200() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    for _ in 0..201 {
        store.jobs().create_job(new_job(&acme, "alice")).await?;
    }
    let filter = JobFilter::account(acme);

    let default = store.jobs().list_jobs(&filter, &PageRequest { size: 0, after: None }).await?;
    let huge = store.jobs().list_jobs(&filter, &PageRequest { size: 10_000, after: None }).await?;
    let rest = store
        .jobs()
        .list_jobs(&filter, &PageRequest { size: 10_000, after: huge.next.clone() })
        .await?;

    assert_eq!(default.jobs.len(), 50);
    assert_eq!(huge.jobs.len(), 200);
    assert_eq!(rest.jobs.len(), 1);
    assert_eq!(rest.next, None);
    Ok(())
}

#[tokio::test]
async fn a_malformed_cursor_is_refused() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let filter = JobFilter::account(account("acme"));
    for cursor in ["", "not-a-cursor", "0000", &"g".repeat(48)] {
        let result = store
            .jobs()
            .list_jobs(&filter, &PageRequest { size: 10, after: Some(cursor.to_owned()) })
            .await;
        assert!(matches!(result, Err(Error::InvalidCursor)), "{cursor:?}: {result:?}");
    }
    Ok(())
}
