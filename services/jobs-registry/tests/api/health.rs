use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_reports_the_registry_and_the_server_as_serving() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut health = HealthClient::connect(format!("http://{}", app.grpc_addr)).await?;

    for service in ["bgjobs.v1.JobsRegistry", ""] {
        let response =
            health.check(HealthCheckRequest { service: service.into() }).await?.into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "service {service:?}");
    }
    app.stop().await
}
