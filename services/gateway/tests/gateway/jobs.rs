//! Reading jobs: filters, details with log, ids and parameters.

use crate::helpers::{OPERATOR_ID, TestGateway, Who};

#[tokio::test]
async fn the_list_filters_by_status_type_creator_and_dates() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let upload = gateway.completed_upload(2).await?;
    let dry_run = gateway.system.submit_delete_client(&gateway.system.client_id, true).await?;
    gateway.system.finished_job(&dry_run, crate::helpers::DEADLINE).await?;

    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|job| job["id"].as_str().map(str::to_owned))
            .collect()
    };
    let shared = &gateway;
    let list = |query: &str| {
        let path = format!("/api/v1/jobs?{query}");
        async move { shared.get(&path, Who::Viewer).await }
    };
    let (status, all) = list("").await?;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), vec![dry_run.clone(), upload.clone()], "newest first");

    assert_eq!(ids(&list("type=product-upload").await?.1), vec![upload.clone()]);
    assert_eq!(ids(&list("type=delete-client,product-upload").await?.1).len(), 2);
    assert_eq!(ids(&list("status=completed").await?.1).len(), 2);
    assert_eq!(ids(&list("status=error").await?.1), Vec::<String>::new());
    assert_eq!(
        ids(&list("created_by=TEST").await?.1).len(),
        2,
        "case-insensitive part of 'tester'"
    );
    assert_eq!(ids(&list("created_by=nobody").await?.1), Vec::<String>::new());
    // Filters combine: each narrows what the others let through.
    assert_eq!(
        ids(&list("status=completed&type=delete-client&created_by=test&from=2000-01-01T00:00:00Z")
            .await?
            .1),
        vec![dry_run.clone()]
    );
    assert_eq!(ids(&list("status=error&type=delete-client").await?.1), Vec::<String>::new());
    assert_eq!(
        ids(&list("from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z").await?.1),
        Vec::<String>::new()
    );
    assert_eq!(ids(&list("from=2000-01-01T00:00:00Z").await?.1).len(), 2);
    let (_, first_page) = list("page_size=1").await?;
    assert_eq!(ids(&first_page), vec![dry_run.clone()]);
    let token = first_page["next_page_token"].as_str().unwrap_or_default().to_owned();
    let (_, second_page) = list(&format!("page_size=1&page_token={token}")).await?;
    assert_eq!(ids(&second_page), vec![upload]);
    assert!(second_page["next_page_token"].is_null());

    let (status, refused) = list("status=done").await?;
    assert_eq!(status, 400);
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("status 'done'"));
    gateway.stop().await
}

#[tokio::test]
async fn details_show_the_log_reference_ids_parameters_and_counters() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(3).await?;
    let (status, details) = gateway.get(&format!("/api/v1/jobs/{job_id}"), Who::Viewer).await?;
    assert_eq!(status, 200, "{details}");
    let job = &details["job"];
    assert_eq!(job["id"], job_id.as_str());
    assert_eq!(job["type"], "product-upload");
    assert_eq!(job["type_label"], "Product Upload");
    assert_eq!(
        (job["status"].as_str(), job["status_label"].as_str()),
        (Some("completed"), Some("Completed"))
    );
    assert_eq!(job["reference_ids"]["client_id"], gateway.system.client_id.as_str());
    assert_eq!(job["parameters"]["client_id"], gateway.system.client_id.as_str());
    assert_eq!(job["counters"]["rows_total"], 3);
    assert_eq!(job["has_results"], true);
    assert_eq!(job["can_retry"], false);
    assert_eq!(job["file_name"], "products.csv");
    let kinds: Vec<&str> = details["log"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|line| line["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"completed"), "{kinds:?}");

    let (status, _) = gateway.get("/api/v1/jobs/not-a-uuid", Who::Viewer).await?;
    assert_eq!(status, 404);
    gateway.stop().await
}

#[tokio::test]
async fn work_started_through_the_gateway_records_the_user_of_the_token() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let client = &gateway.system.client_id;
    // A request naming someone else is not believed: the user comes from the token.
    let forged = "created_by=Mallory&user_id=u-mallory";
    let starts = [
        (
            format!("/api/v1/jobs/product-upload?client_id={client}&{forged}"),
            Some(crate::helpers::product_file(1)),
        ),
        (
            format!("/api/v1/jobs/warehouse-upload?{forged}"),
            Some("warehouse_code,location_code\nW1,A-01\n".to_owned()),
        ),
        (format!("/api/v1/jobs/delete-client?client_id={client}&dry_run=true&{forged}"), None),
    ];
    for (path, body) in starts {
        let mut request = gateway.request(reqwest::Method::POST, &path, Who::Operator);
        if let Some(body) = body {
            request = request.header("content-type", "text/csv").body(body);
        }
        let response = request.send().await?;
        assert_eq!(response.status(), 202, "{path}");
        let accepted: serde_json::Value = response.json().await?;
        let job_id = accepted["job_id"].as_str().unwrap_or_default();
        let (status, details) = gateway.get(&format!("/api/v1/jobs/{job_id}"), Who::Viewer).await?;
        assert_eq!(status, 200, "{details}");
        let job = &details["job"];
        assert_eq!(job["created_by"], "Omar Operator", "{path}");
        assert_eq!(job["reference_ids"]["user_id"], OPERATOR_ID, "{path}");
    }
    gateway.stop().await
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let (status, document) = gateway.get("/api/v1/openapi.json", Who::Nobody).await?;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/events",
        "/api/v1/jobs/{job_id}/download-link",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // Who is emailed: the job's recipient, and the options of starting work.
    let schemas = &document["components"]["schemas"];
    assert!(schemas["JobView"]["properties"]["notify"].is_object(), "JobView.notify missing");
    assert!(schemas["RecipientView"]["properties"]["email"].is_object(), "RecipientView missing");
    let parameters: Vec<&str> =
        document["paths"]["/api/v1/jobs/product-upload"]["post"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|parameter| parameter["name"].as_str())
            .collect();
    assert!(parameters.contains(&"notify") && parameters.contains(&"time_zone"), "{parameters:?}");
    let deletion = &document["paths"]["/api/v1/jobs/delete-client"]["post"]["responses"];
    assert!(deletion["409"].is_object(), "a refused second deletion is not described");
    gateway.stop().await
}
