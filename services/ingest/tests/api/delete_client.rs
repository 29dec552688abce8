//! Delete Client through ingest's own API: a deletion is never started without the
//! client's name typed to confirm it, whoever calls.

use crate::helpers::{json_of, spawn_app};

#[tokio::test]
async fn a_deletion_without_the_typed_confirmation_is_refused_and_registers_nothing()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let url = format!("{}/v1/accounts/{}/jobs/delete-client", app.address, app.account);

    for dry_run in [None, Some("false")] {
        let mut query = vec![("client_id", "c-1")];
        query.extend(dry_run.map(|value| ("dry_run", value)));
        let response = app.http.post(&url).query(&query).send().await?;
        assert_eq!(response.status(), 400, "dry_run {dry_run:?}");
        let answer = json_of(response).await?;
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
        assert_eq!(answer["error"]["field"], "confirm_name", "{answer}");
        assert_eq!(
            answer["error"]["message"],
            "type the client's name to confirm the deletion (confirm_name), or ask for a dry \
             run (dry_run=true)"
        );
    }
    assert!(app.jobs().await?.is_empty(), "a refused deletion was registered");

    // A dry run deletes nothing and needs no confirmation; a confirmed deletion is
    // registered with the typed name, for the consumer to compare with the client's.
    let dry_run = [("client_id", "c-1"), ("dry_run", "true")];
    let response = app.http.post(&url).query(&dry_run).send().await?;
    assert_eq!(response.status(), 202, "{}", json_of(response).await?);
    let confirmed = [("client_id", "c-2"), ("confirm_name", "Client Two")];
    let response = app.http.post(&url).query(&confirmed).send().await?;
    assert_eq!(response.status(), 202, "{}", json_of(response).await?);
    let jobs = app.jobs().await?;
    let deletion = jobs
        .iter()
        .find(|job| job.reference_ids.as_ref().is_some_and(|ids| ids.client_id == "c-2"))
        .expect("the confirmed deletion is registered");
    let parameters: serde_json::Value = serde_json::from_str(&deletion.parameters_json)?;
    assert_eq!(
        parameters,
        serde_json::json!({ "client_id": "c-2", "dry_run": false, "confirm_name": "Client Two" })
    );
    app.stop().await
}
