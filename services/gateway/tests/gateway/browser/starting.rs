//! Starting work from the page: an upload, and a Delete Client confirmed by the
//! client's name after a dry run; who is emailed when they end.

use super::driver::Browser;
use crate::helpers::{OPERATOR_EMAIL, OPERATOR_ID, TestGateway, Who, product_file};

/// Opens the page as the operator and waits until live updates are on.
async fn operator_page(gateway: &TestGateway) -> anyhow::Result<Browser> {
    operator_page_in(gateway, "UTC").await
}

/// Like [`operator_page`], in a browser whose time zone is `time_zone`.
async fn operator_page_in(gateway: &TestGateway, time_zone: &str) -> anyhow::Result<Browser> {
    let browser = Browser::start_in_time_zone(time_zone).await?;
    let token = gateway.token(Who::Operator).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    browser
        .wait_for(
            "live updates",
            "document.getElementById('live-state').textContent.startsWith('Live')",
        )
        .await?;
    Ok(browser)
}

/// The id of the job the banner says was started.
async fn started_job(browser: &Browser) -> anyhow::Result<String> {
    let banner = browser
        .wait_for(
            "the started notice",
            "document.getElementById('banner').textContent.match(/job (\\S+)\\.$/)?.[1]",
        )
        .await?;
    Ok(banner.as_str().unwrap_or_default().to_owned())
}

/// In the open upload dialog: picks `file`, sets each select `(name, value)`, submits;
/// answers the id of the job started.
async fn submit_upload_form(
    browser: &Browser,
    file: &std::path::Path,
    selects: &[(&str, &str)],
) -> anyhow::Result<String> {
    browser
        .client
        .find(fantoccini::Locator::Css("#start-body input[type=file]"))
        .await?
        .send_keys(&file.display().to_string())
        .await?;
    for (select, value) in selects {
        browser
            .client
            .find(fantoccini::Locator::Css(&format!("#start-body select[name={select}]")))
            .await?
            .select_by_value(value)
            .await?;
    }
    browser.click("#start-body button[type=submit]").await?;
    started_job(browser).await
}

/// Waits until the row of `job_id` shows it completed; answers the row's text.
async fn completed_row(browser: &Browser, job_id: &str) -> anyhow::Result<String> {
    let row = format!("document.querySelector(\"tr[data-job-id='{job_id}']\")");
    browser
        .wait_for(
            "the job to complete on the page",
            &format!("{row}?.dataset.status === 'completed'"),
        )
        .await?;
    let text = browser.eval(&format!("{row}.textContent")).await?;
    Ok(text.as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_upload_started_on_the_page_appears_and_completes_without_a_reload() -> anyhow::Result<()>
{
    let gateway = TestGateway::start().await?;
    let browser = operator_page(&gateway).await?;
    browser.eval("window.notReloaded = true").await?;

    let file =
        std::env::temp_dir().join(format!("products-{}.csv", bgjobs_test_support::unique_suffix()));
    std::fs::write(&file, product_file(200))?;
    browser.click("#start-product-upload").await?;
    browser.set_input("#start-body input[name=client_id]", &gateway.system.client_id).await?;
    let job_id = submit_upload_form(&browser, &file, &[]).await?;
    let row = completed_row(&browser, &job_id).await?;
    assert_eq!(browser.eval("window.notReloaded").await?, true, "the page was reloaded");
    assert!(row.contains("Omar Operator"), "{row}");
    assert_eq!(
        browser.eval(&format!("document.querySelectorAll(\"tr[data-job-id='{job_id}'] [data-action=download]\").length")).await?,
        1
    );
    // The reference ids name the user who started it, from the token.
    browser.click(&format!("tr[data-job-id='{job_id}'] [data-action=details]")).await?;
    let user_id = browser
        .wait_for("the user id", "document.getElementById('details-user-id')?.textContent")
        .await?;
    assert_eq!(user_id, OPERATOR_ID);
    browser.screenshot("details").await?;
    std::fs::remove_file(&file)?;
    gateway.stop().await
}

/// Opens the details of `job_id` and answers their Notify row once shown.
async fn notify_row(browser: &Browser, job_id: &str) -> anyhow::Result<String> {
    browser.click(&format!("tr[data-job-id='{job_id}'] [data-action=details]")).await?;
    let shown = browser
        .wait_for(
            "the Notify row",
            &format!(
                "document.querySelector(\"#details-body [data-job-id='{job_id}'] #details-notify\")?.textContent"
            ),
        )
        .await?;
    browser.click("#details-close").await?;
    Ok(shown.as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_upload_from_the_page_emails_the_user_unless_the_box_is_unchecked() -> anyhow::Result<()>
{
    let gateway = TestGateway::start().await?;
    // The operator's token names no zone: the browser's is used.
    // (Not Asia/Kolkata: Chromium names it by its older alias, Asia/Calcutta.)
    let browser = operator_page_in(&gateway, "Europe/Paris").await?;
    let file =
        std::env::temp_dir().join(format!("products-{}.csv", bgjobs_test_support::unique_suffix()));
    std::fs::write(&file, product_file(2))?;
    let email_box = "document.querySelector('#start-body input[name=notify]')";

    browser.click("#start-product-upload").await?;
    browser.set_input("#start-body input[name=client_id]", &gateway.system.client_id).await?;
    assert_eq!(browser.eval(&format!("{email_box}.checked")).await?, true, "checked by default");
    let label = browser.eval(&format!("{email_box}.labels[0].textContent")).await?;
    assert_eq!(
        label.as_str().unwrap_or_default(),
        format!("Email me when it ends (to {OPERATOR_EMAIL}, your sign-in's address)")
    );
    let emailed = submit_upload_form(&browser, &file, &[]).await?;
    assert_eq!(
        notify_row(&browser, &emailed).await?,
        format!("{OPERATOR_EMAIL} (times in Europe/Paris)")
    );

    // The first start's notice goes, so the next one read is the second start's.
    browser.eval("(document.getElementById('banner').textContent = '', true)").await?;
    browser.click("#start-product-upload").await?;
    browser.set_input("#start-body input[name=client_id]", &gateway.system.client_id).await?;
    browser.click("#start-body input[name=notify]").await?;
    assert_eq!(browser.eval(&format!("{email_box}.checked")).await?, false);
    let not_emailed = submit_upload_form(&browser, &file, &[]).await?;
    assert_eq!(notify_row(&browser, &not_emailed).await?, "Nobody (no email for this job)");
    assert_eq!(gateway.system.job(&not_emailed).await?.notify, None);
    std::fs::remove_file(&file)?;
    gateway.stop().await
}

#[tokio::test]
async fn a_client_is_deleted_from_the_page_after_a_dry_run_and_its_name_typed() -> anyhow::Result<()>
{
    let gateway = TestGateway::start().await?;
    let system = &gateway.system;
    gateway.completed_upload(4).await?;
    let browser = operator_page(&gateway).await?;

    browser.click("#start-delete-client").await?;
    browser.set_input("#start-body input[name=client_id]", &system.client_id).await?;
    browser.click("#start-body button[type=submit]").await?;
    let dry_run = browser
        .wait_for("the dry run's result", "document.getElementById('dry-run-result')?.textContent")
        .await?;
    assert_eq!(dry_run, "Dry run: would delete 4 products and the client 'ACME Corp'");
    let delete_button = "document.querySelector('#start-body button.danger')";
    assert_eq!(browser.eval(&format!("{delete_button}.disabled")).await?, true);
    browser.screenshot("delete-client").await?;

    browser.set_input("#start-body input[name=confirm_name]", "ACME Corp").await?;
    assert_eq!(browser.eval(&format!("{delete_button}.disabled")).await?, false);
    browser.click("#start-body button.danger").await?;
    let job_id = started_job(&browser).await?;
    let row = completed_row(&browser, &job_id).await?;
    assert!(row.contains("Deleted 4 products and the client"), "{row}");
    // The box was left checked: the deletion's end is emailed to the user.
    let notify = system.job(&job_id).await?.notify;
    assert_eq!(notify.map(|recipient| recipient.email).as_deref(), Some(OPERATOR_EMAIL));
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    assert!(!system.store.catalog().client_exists(&system.account, &system.client_id).await?);
    gateway.stop().await
}

#[tokio::test]
async fn a_warehouse_file_uploaded_from_the_page_runs_with_the_chosen_options() -> anyhow::Result<()>
{
    let gateway = TestGateway::start().await?;
    let system = &gateway.system;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    let browser = operator_page(&gateway).await?;
    let file = std::env::temp_dir()
        .join(format!("locations-{}.csv", bgjobs_test_support::unique_suffix()));
    std::fs::write(&file, "warehouse,location_code\nWH1,A-01\nWH1,A-02\nNOPE,C-01\n")?;

    browser.click("#start-warehouse-upload").await?;
    let job_id = submit_upload_form(&browser, &file, &[("write", "create-only")]).await?;
    let row = completed_row(&browser, &job_id).await?;
    assert!(row.contains("2 of 3 rows imported, 1 rejected"), "{row}");
    let job = system.job(&job_id).await?;
    let parameters: serde_json::Value = serde_json::from_str(&job.parameters_json)?;
    assert_eq!(parameters["write"], "create-only");
    assert_eq!(
        job.original_file_name,
        file.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    );
    std::fs::remove_file(&file)?;
    gateway.stop().await
}

#[tokio::test]
async fn a_file_saved_by_excel_on_windows_is_uploaded_with_its_encoding_chosen()
-> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let system = &gateway.system;
    let browser = operator_page(&gateway).await?;
    let file =
        std::env::temp_dir().join(format!("excel-{}.csv", bgjobs_test_support::unique_suffix()));
    // Windows-1252, semicolons, CRLF: "Café crème" with é = E9 and è = E8.
    std::fs::write(&file, b"SKU;Name\r\nA-1;Caf\xe9 cr\xe8me\r\n")?;

    browser.click("#start-product-upload").await?;
    browser.set_input("#start-body input[name=client_id]", &system.client_id).await?;
    let job_id = submit_upload_form(&browser, &file, &[("encoding", "windows-1252")]).await?;
    let row = completed_row(&browser, &job_id).await?;
    assert!(row.contains("1 of 1 rows imported, 0 rejected"), "{row}");
    let product =
        system.store.catalog().get_product(&system.account, &system.client_id, "A-1").await?;
    assert_eq!(product.map(|product| product.name).as_deref(), Some("Café crème"));
    std::fs::remove_file(&file)?;
    gateway.stop().await
}
