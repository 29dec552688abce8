use bgjobs_identity::Service;
use bgjobs_test_support::pki;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_reports_the_registry_and_the_server_as_serving() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let url = format!("https://{}", app.grpc_addr);
    let channel = pki::channel(&url, Service::JobsRegistry, Service::DeleteClient);
    let mut health = HealthClient::new(channel);

    for service in ["bgjobs.v1.JobsRegistry", ""] {
        let response =
            health.check(HealthCheckRequest { service: service.into() }).await?.into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "service {service:?}");
    }
    app.stop().await
}

#[tokio::test]
async fn reflection_lists_the_registry_service() -> anyhow::Result<()> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app().await?;
    let url = format!("https://{}", app.grpc_addr);
    let channel = pki::channel(&url, Service::JobsRegistry, Service::Jobsctl);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };

    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let response = responses.message().await?.expect("one response");

    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        anyhow::bail!("unexpected reflection response {response:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|service| service.name.as_str()).collect();
    assert!(names.contains(&"bgjobs.v1.JobsRegistry"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    app.stop().await
}
