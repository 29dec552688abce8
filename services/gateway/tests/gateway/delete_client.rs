//! Delete Client from the page: a dry run that names the client, then the deletion,
//! which needs the client's name typed to confirm and deletes nothing without it.

use crate::helpers::{DEADLINE, TestGateway, Who};

#[tokio::test]
async fn a_deletion_needs_the_clients_name_and_a_wrong_one_deletes_nothing() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let system = &gateway.system;
    let client = system.client_id.as_str();
    gateway.completed_upload(3).await?;
    let start = |query: String| {
        let path = format!("/api/v1/jobs/delete-client?client_id={client}{query}");
        let gateway = &gateway;
        async move {
            let (status, body) = gateway.post(&path, Who::Operator).await?;
            anyhow::ensure!(status == 202, "{path}: {status} {body}");
            let job_id = body["job_id"].as_str().unwrap_or_default().to_owned();
            system.finished_job(&job_id, DEADLINE).await
        }
    };

    let dry_run = start("&dry_run=true".to_owned()).await?;
    assert_eq!(dry_run.message, "Dry run: would delete 3 products and the client 'ACME Corp'");

    let (status, body) = gateway
        .post(&format!("/api/v1/jobs/delete-client?client_id={client}"), Who::Operator)
        .await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "type the client's name to confirm the deletion (confirm_name), or ask for a dry run \
         (dry_run=true)"
    );

    // The id is not the name: the job fails before deleting anything.
    let wrong = start(format!("&confirm_name={client}")).await?;
    assert_eq!(wrong.status, bgjobs_proto::v1::JobStatus::Error as i32);
    assert_eq!(
        wrong.message,
        format!(
            "nothing was deleted: '{client}' is not the name of client '{client}'; type the \
             client's name exactly as the dry run shows it"
        )
    );
    assert_eq!(system.store.catalog().count_products(&system.account, client).await?, 3);
    assert!(system.store.catalog().client_exists(&system.account, client).await?);

    let confirmed = start("&confirm_name=ACME%20Corp".to_owned()).await?;
    assert_eq!(confirmed.message, "Deleted 3 products and the client");
    assert_eq!(system.store.catalog().count_products(&system.account, client).await?, 0);
    assert!(!system.store.catalog().client_exists(&system.account, client).await?);
    gateway.stop().await
}
