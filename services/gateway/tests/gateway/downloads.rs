//! Results downloads: an account-checked, expiring, signed link to a streamed file.

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
