//! A warehouse upload through the public interfaces: ingest's HTTP API in, the
//! registry's gRPC API and the locations and results file out.

use std::time::Duration;

use bgjobs_database::catalog::warehouse::{Location, LocationType};
use bgjobs_domain::{AccountId, JobStatus};
use bgjobs_e2e::TestSystem;
use bgjobs_proto::convert::job_status_from_proto;

const DEADLINE: Duration = Duration::from_secs(60);

const HEADER: &str =
    "warehouse,location_code,zone,aisle,bay,level,location_type,pickable,capacity\n";

#[tokio::test]
async fn a_mixed_file_imports_the_valid_locations_and_reports_every_rejected_row()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH2", "Overflow").await?;
    let file = format!(
        "{HEADER}\
         WH1,a-01-01,Z1,01,01,1,Pick,yes,100\n\
         WH1,A-01-02,Z1,01,02,1,bulk,no,5000\n\
         WH2,B 01,Z2,02,01,1,pick,yes,10\n\
         WH2,B-01,Z2,02,01,1,shelf,yes,10\n\
         WH1,A-01-01,Z1,01,01,2,pick,yes,100\n\
         WH2,B-02,,,,,,,\n\
         NOPE,C-01,,,,,,,\n\
         WH2,=B-03,,,,,,,2000000\n"
    );
    let job_id = system.submit_locations_with(file, "").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "3 of 8 rows imported, 5 rejected");
    let counters = job.counters.unwrap_or_default();
    assert_eq!((counters.rows_total, counters.rows_rejected), (8, 5));

    assert_eq!(system.store.catalog().count_locations(&system.account, "WH1").await?, 2);
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH2").await?, 1);
    assert_eq!(
        system.store.catalog().get_location(&system.account, "WH1", "A-01-01").await?,
        Some(Location {
            warehouse_id: "WH1".to_owned(),
            location_code: "A-01-01".to_owned(),
            zone: Some("Z1".to_owned()),
            aisle: Some("01".to_owned()),
            bay: Some("01".to_owned()),
            level: Some("1".to_owned()),
            location_type: Some(LocationType::Pick),
            pickable: Some(true),
            capacity: Some(100),
        })
    );

    let results = system.objects.get_bytes(&job.result_object_key).await?;
    let results = String::from_utf8(results.to_vec())?;
    assert_eq!(
        results.lines().collect::<Vec<_>>(),
        vec![
            "\"row\",\"key\",\"outcome\",\"reason\"",
            "\"1\",\"A-01-01\",\"created\",\"\"",
            "\"2\",\"A-01-02\",\"created\",\"\"",
            "\"3\",\"B 01\",\"rejected\",\"location_code: 'B 01' contains a space; location codes may contain letters, digits, '-' and '.'\"",
            "\"4\",\"B-01\",\"rejected\",\"location_type: 'shelf' is not a location type; use pick, bulk, reserve, staging or dock\"",
            "\"5\",\"A-01-01\",\"rejected\",\"location_code: 'A-01-01' of warehouse 'WH1' appears again; it was first given in row 1\"",
            "\"6\",\"B-02\",\"created\",\"\"",
            "\"7\",\"C-01\",\"rejected\",\"warehouse: 'NOPE' does not exist in this account\"",
            "\"8\",\"'=B-03\",\"rejected\",\"location_code: '=B-03' contains '='; location codes may contain letters, digits, '-' and '.'; capacity: 2000000 is out of range; it must be between 0 and 1000000\"",
        ]
    );
    system.stop().await
}

#[tokio::test]
async fn a_row_naming_another_accounts_warehouse_is_rejected() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let other_account = AccountId::parse(&format!("{}-other", system.account))?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    system.store.catalog().ensure_warehouse(&other_account, "WH-THEIRS", "Not yours").await?;
    let file = format!("{HEADER}WH1,A-1,,,,,,,\nWH-THEIRS,A-1,,,,,,,\n");

    let job_id = system.submit_locations_with(file, "").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job.message, "1 of 2 rows imported, 1 rejected");
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH1").await?, 1);
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH-THEIRS").await?, 0);
    assert_eq!(system.store.catalog().count_locations(&other_account, "WH-THEIRS").await?, 0);
    let results =
        String::from_utf8(system.objects.get_bytes(&job.result_object_key).await?.to_vec())?;
    assert_eq!(
        results.lines().collect::<Vec<_>>(),
        vec![
            "\"row\",\"key\",\"outcome\",\"reason\"",
            "\"1\",\"A-1\",\"created\",\"\"",
            "\"2\",\"A-1\",\"rejected\",\"warehouse: 'WH-THEIRS' does not exist in this account\"",
        ]
    );
    system.stop().await
}

#[tokio::test]
async fn an_all_or_nothing_upload_with_a_bad_row_imports_nothing() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    let file = format!("{HEADER}WH1,A-1,,,,,,,\nWH1,A-2,,,,,,maybe,\nWH1,A-3,,,,,,,\n");

    let job_id = system.submit_locations_with(file, "&mode=all-or-nothing").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error));
    assert_eq!(
        job.message,
        "1 of 3 rows are invalid; nothing was imported (all-or-nothing upload)"
    );
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH1").await?, 0);
    let results =
        String::from_utf8(system.objects.get_bytes(&job.result_object_key).await?.to_vec())?;
    assert_eq!(
        results.lines().collect::<Vec<_>>(),
        vec![
            "\"row\",\"key\",\"outcome\",\"reason\"",
            "\"1\",\"A-1\",\"skipped\",\"not imported: other rows of this all-or-nothing upload are invalid\"",
            "\"2\",\"A-2\",\"rejected\",\"pickable: 'maybe' is not true or false; use true/false, yes/no or 1/0\"",
            "\"3\",\"A-3\",\"skipped\",\"not imported: other rows of this all-or-nothing upload are invalid\"",
        ]
    );
    system.stop().await
}
