use crate::helpers::{json_of, spawn_app};

#[tokio::test]
async fn liveness_and_readiness_answer_200_while_the_broker_is_connected() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let live = app.http.get(format!("{}/healthz", app.address)).send().await?;
    assert_eq!(live.status(), 200);
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await?;
    assert_eq!(ready.status(), 200);
    assert_eq!(json_of(ready).await?["status"], "ready");

    app.stop().await
}
