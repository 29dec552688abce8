//! Who may call what, for every gRPC method of the registry and of ingest: each rule of
//! the servers' policy tables called by every bgjobs identity and without a
//! certificate, against the real servers of a running system.

use bgjobs_e2e::TestSystem;
use bgjobs_identity::{Policy, Service, policies};
use bgjobs_test_support::pki;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_prost::ProstCodec;

/// The answer to an empty request to `path` over `channel`: the method's own answer
/// (most refuse an empty request as invalid) or the authorization's refusal.
async fn call(channel: Channel, path: &'static str) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(error) = grpc.ready().await {
        panic!("no connection for {path}: {error}");
    }
    let codec = ProstCodec::<(), ()>::default();
    let answer =
        grpc.server_streaming(tonic::Request::new(()), PathAndQuery::from_static(path), codec);
    match answer.await {
        Ok(_stream) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// A channel to `callee` that trusts the authority but presents no certificate.
fn anonymous(url: &str, callee: Service) -> anyhow::Result<Channel> {
    let ca = std::fs::read(pki::tls(callee).ca_file)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name(callee.server_name());
    Ok(Endpoint::from_shared(url.to_owned())?.tls_config(tls)?.connect_lazy())
}

/// Every rule of `policy` against the server at `url`; answers the mismatches.
async fn mismatches(url: &str, policy: &'static Policy) -> anyhow::Result<Vec<String>> {
    let mut wrong = Vec::new();
    for rule in policy.rules {
        for caller in Service::ALL {
            let code = call(pki::channel(url, policy.server, caller), rule.path).await;
            let refused = matches!(code, Code::PermissionDenied | Code::Unauthenticated);
            let allowed = rule.callers.contains(&caller);
            if allowed == refused || (refused && code != Code::PermissionDenied) {
                wrong.push(format!("{caller} calling {}: {code:?}", rule.path));
            }
        }
        let code = call(anonymous(url, policy.server)?, rule.path).await;
        if code != Code::Unauthenticated {
            wrong.push(format!("no certificate calling {}: {code:?}", rule.path));
        }
    }
    // A method the table does not name is no one's.
    let unknown = "/bgjobs.v1.JobsRegistry/DropEverything";
    let code = call(pki::channel(url, policy.server, Service::Jobsctl), unknown).await;
    if code != Code::PermissionDenied {
        wrong.push(format!("jobsctl calling {unknown}: {code:?}"));
    }
    Ok(wrong)
}

#[tokio::test]
async fn every_grpc_method_answers_only_the_identities_its_rule_names() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let registry_url = system.env_value("BGJOBS_REGISTRY_URL");
    let ingest_url = system.env_value("BGJOBS_INGEST_GRPC_URL");
    let mut wrong = mismatches(&registry_url, &policies::REGISTRY).await?;
    wrong.extend(mismatches(&ingest_url, &policies::INGEST).await?);
    assert!(wrong.is_empty(), "answers that differ from the policy tables:\n{}", wrong.join("\n"));
    system.stop().await
}
