//! Results downloads: an account-checked, expiring, signed link to a streamed file.

use bgjobs_domain::{AccountId, JobId, object_keys};
use bgjobs_object_store::ObjectMetadata;
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{TestGateway, Who};

#[tokio::test]
async fn a_signed_link_downloads_the_results_file_under_a_sensible_name() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(4).await?;
    let (status, link) =
        gateway.post(&format!("/api/v1/jobs/{job_id}/download-link"), Who::Viewer).await?;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["file_name"], "products-results.csv");
    let url = format!("{}{}", gateway.url, link["url"].as_str().unwrap_or_default());

    // No bearer token: the link itself is the permission.
    let response = gateway.http.get(&url).send().await?;
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str()?.to_owned();
    assert!(disposition.contains("filename=\"products-results.csv\""), "{disposition}");
    let downloaded = response.text().await?;
    let job = gateway.system.job(&job_id).await?;
    assert_eq!(downloaded, gateway.system.results_text(&job).await?);

    let tampered = url.replace("signature=", "signature=00");
    assert_eq!(gateway.http.get(&tampered).send().await?.status(), 403);
    let stretched = url.replace("expires=", "expires=9");
    assert_eq!(gateway.http.get(&stretched).send().await?.status(), 403);
    let other_account =
        url.replace(&format!("/downloads/{}/", gateway.system.account), "/downloads/someone-else/");
    assert_eq!(gateway.http.get(&other_account).send().await?.status(), 403);
    gateway.stop().await
}

#[tokio::test]
async fn a_failed_job_has_no_download_link() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let failed = gateway.system.submit_delete_client("never-existed", false).await?;
    let job = gateway.system.finished_job(&failed, crate::helpers::DEADLINE).await?;
    assert!(job.result_object_key.is_empty(), "{}", job.message);
    let (status, body) =
        gateway.post(&format!("/api/v1/jobs/{failed}/download-link"), Who::Operator).await?;
    assert_eq!(status, 409, "{body}");
    let (_, details) = gateway.get(&format!("/api/v1/jobs/{failed}"), Who::Operator).await?;
    assert_eq!(
        (details["job"]["status"].as_str(), details["job"]["has_results"].as_bool()),
        (Some("error"), Some(false))
    );
    gateway.stop().await
}

/// A job whose record names another account's results file (written before keys were
/// checked, or by anything that got past the registry) still downloads its own: the key
/// is derived from the link's account and job.
#[tokio::test]
async fn a_download_reads_the_jobs_own_results_file_whatever_its_record_names() -> anyhow::Result<()>
{
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(2).await?;
    let other_account = AccountId::parse(&gateway.other_account)?;
    let foreign_key = object_keys::results(&other_account, JobId::new());
    let metadata = ObjectMetadata { content_type: "text/csv".to_owned(), original_file_name: None };
    let foreign_file = "row,key,outcome,reason\n1,SECRET-1,created,\n";
    gateway.system.objects.put_bytes(&foreign_key, foreign_file.into(), &metadata).await?;
    let connection = gateway.system.store.connection();
    let statement = Statement::from_sql_and_values(
        connection.get_database_backend(),
        "UPDATE jobs.jobs SET result_object_key = $1 WHERE job_id = $2",
        [foreign_key.clone().into(), job_id.parse::<JobId>()?.as_uuid().into()],
    );
    anyhow::ensure!(connection.execute(statement).await?.rows_affected() == 1, "no such job");

    let (status, link) =
        gateway.post(&format!("/api/v1/jobs/{job_id}/download-link"), Who::Viewer).await?;
    assert_eq!(status, 200, "{link}");
    let url = format!("{}{}", gateway.url, link["url"].as_str().unwrap_or_default());
    let response = gateway.http.get(&url).send().await?;
    assert_eq!(response.status(), 200);
    let downloaded = response.text().await?;

    let own_key = object_keys::results(&gateway.system.account, job_id.parse()?);
    let own_file = String::from_utf8(gateway.system.objects.get_bytes(&own_key).await?.to_vec())?;
    assert_eq!(downloaded, own_file);
    assert!(!downloaded.contains("SECRET-1"), "another account's file was served");
    gateway.system.objects.delete(&foreign_key).await?;
    gateway.stop().await
}
