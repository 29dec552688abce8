//! Who may call what, for every gRPC method of the registry and of ingest and every
//! route of ingest's HTTP API: each rule of the servers' policy tables called by every
//! bgjobs identity and without a certificate, against the real servers of a running
//! system.

use bgjobs_e2e::TestSystem;
use bgjobs_identity::{Access, Policy, RoutePolicy, Service, policies};
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

/// The status and error code of an empty request to `route` at `base_url` with `http`.
async fn http_call(
    http: &reqwest::Client,
    base_url: &str,
    account: &str,
    route: &bgjobs_identity::Route,
) -> anyhow::Result<(u16, String)> {
    let url = format!("{base_url}{}", route.path.replace("{account_id}", account));
    let method = reqwest::Method::from_bytes(route.method.as_bytes())?;
    let response = http.request(method, url).send().await?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Ok((status, body["error"]["code"].as_str().unwrap_or_default().to_owned()))
}

/// Every route of `policy` at `base_url`; answers the mismatches.
async fn http_mismatches(
    base_url: &str,
    account: &str,
    policy: &'static RoutePolicy,
) -> anyhow::Result<Vec<String>> {
    let mut wrong = Vec::new();
    for route in policy.routes {
        let name = format!("{} {}", route.method, route.path);
        for caller in Service::ALL {
            let http = pki::ingest_http(caller);
            let (status, code) = http_call(&http, base_url, account, route).await?;
            let allowed = match route.access {
                Access::Anyone => true,
                Access::Only(callers) => callers.contains(&caller),
            };
            let as_expected = if allowed {
                status != 401 && status != 403
            } else {
                (status, code.as_str()) == (403, "forbidden")
            };
            if !as_expected {
                wrong.push(format!("{caller} calling {name}: {status} {code}"));
            }
        }
        let anonymous = pki::anonymous_ingest_http();
        let (status, code) = http_call(&anonymous, base_url, account, route).await?;
        let as_expected = match route.access {
            Access::Anyone => status != 401 && status != 403,
            Access::Only(_) => (status, code.as_str()) == (401, "unauthenticated"),
        };
        if !as_expected {
            wrong.push(format!("no certificate calling {name}: {status} {code}"));
        }
    }
    Ok(wrong)
}

#[tokio::test]
async fn every_http_route_of_ingest_answers_only_the_identities_its_rule_names()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let account = system.account.to_string();
    let wrong = http_mismatches(&system.ingest_url, &account, &policies::INGEST_HTTP).await?;
    assert!(wrong.is_empty(), "answers that differ from the policy table:\n{}", wrong.join("\n"));
    // Nothing was started by any of those calls: every allowed one lacked its fields.
    assert!(system.jobs().await?.is_empty(), "a job was registered");
    system.stop().await
}
