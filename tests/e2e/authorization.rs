//! Who may call what, for every gRPC method of the registry and of ingest and every
//! route of ingest's HTTP API: each rule of the servers' policy tables called by every
//! bgjobs identity and without a certificate, and each route that acts for a user
//! with every kind of user token, against the real servers of a running system.

use bgjobs_auth::VIEW_ROLE;
use bgjobs_e2e::TestSystem;
use bgjobs_identity::{Access, Policy, RoutePolicy, Service, policies};
use bgjobs_test_support::{pki, tokens};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_prost::ProstCodec;

/// The answer to an empty request to `path` over `channel`, with a user's token as a
/// service acting for a user sends it: the method's own answer (most refuse an empty
/// request as invalid) or the authorization's refusal.
async fn call(channel: Channel, path: &'static str) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(error) = grpc.ready().await {
        panic!("no connection for {path}: {error}");
    }
    let codec = ProstCodec::<(), ()>::default();
    let mut request = tonic::Request::new(());
    let bearer = format!("Bearer {}", tokens::operator("acme", "ann"));
    request.metadata_mut().insert("authorization", bearer.parse().expect("a metadata value"));
    let answer = grpc.server_streaming(request, PathAndQuery::from_static(path), codec);
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

/// The user a request carries, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum User {
    /// No Authorization header.
    Nobody,
    /// A header that is not a token.
    Malformed,
    /// The view role only.
    Viewer,
    /// The view and retry roles, in the system's account.
    Operator,
    /// The view and retry roles, in another account.
    OtherAccount,
}

impl User {
    const ALL: [User; 5] =
        [User::Nobody, User::Malformed, User::Viewer, User::Operator, User::OtherAccount];

    fn authorization(self, account: &str) -> Option<String> {
        let token = match self {
            Self::Nobody => return None,
            Self::Malformed => "not-a-token".to_owned(),
            Self::Viewer => tokens::sign(&tokens::claims(account, "vera", &[VIEW_ROLE])),
            Self::Operator => tokens::operator(account, "omar"),
            Self::OtherAccount => tokens::operator(&format!("other-{account}"), "olga"),
        };
        Some(format!("Bearer {token}"))
    }
}

/// What a route answers: let through to its handler (which refuses an empty request
/// as invalid, never with 401 or 403), or refused with this status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Admitted,
    Refused(u16, &'static str),
}

/// What the table says `caller` (None: no certificate) with `user` gets from `access`.
fn expected(access: Access, caller: Option<Service>, user: User) -> Answer {
    const UNAUTHENTICATED: Answer = Answer::Refused(401, "unauthenticated");
    const FORBIDDEN: Answer = Answer::Refused(403, "forbidden");
    match (access, caller) {
        (Access::Anyone, _) => Answer::Admitted,
        (Access::Only(_), None) => UNAUTHENTICATED,
        (Access::Only(callers), Some(caller)) if callers.contains(&caller) => Answer::Admitted,
        (Access::Only(_), Some(_)) => FORBIDDEN,
        (Access::User, _) => match user {
            User::Nobody | User::Malformed => UNAUTHENTICATED,
            User::Viewer | User::OtherAccount => FORBIDDEN,
            User::Operator => Answer::Admitted,
        },
    }
}

/// What an empty request to `route` at `base_url` with `http` and `user` gets.
async fn http_call(
    http: &reqwest::Client,
    base_url: &str,
    account: &str,
    route: &bgjobs_identity::Route,
    user: User,
) -> anyhow::Result<Answer> {
    let url = format!("{base_url}{}", route.path.replace("{account_id}", account));
    let method = reqwest::Method::from_bytes(route.method.as_bytes())?;
    let mut request = http.request(method, url);
    if let Some(authorization) = user.authorization(account) {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or_default();
    Ok(match (status, code) {
        (401, "unauthenticated") => Answer::Refused(401, "unauthenticated"),
        (403, "forbidden") => Answer::Refused(403, "forbidden"),
        (401 | 403, _) => Answer::Refused(status, "an unknown code"),
        _ => Answer::Admitted,
    })
}

/// Every route of `policy` at `base_url`, called with and without every identity's
/// certificate, each with every kind of user; answers the mismatches.
async fn http_mismatches(
    base_url: &str,
    account: &str,
    policy: &'static RoutePolicy,
) -> anyhow::Result<Vec<String>> {
    let mut callers: Vec<(Option<Service>, reqwest::Client)> =
        Service::ALL.into_iter().map(|caller| (Some(caller), pki::ingest_http(caller))).collect();
    callers.push((None, pki::anonymous_ingest_http()));
    let mut wrong = Vec::new();
    for route in policy.routes {
        for (caller, http) in &callers {
            for user in User::ALL {
                let answer = http_call(http, base_url, account, route, user).await?;
                let expected = expected(route.access, *caller, user);
                if answer != expected {
                    let who = caller.map_or("no certificate".to_owned(), |c| c.to_string());
                    wrong.push(format!(
                        "{who} with {user:?} calling {} {}: {answer:?}, expected {expected:?}",
                        route.method, route.path
                    ));
                }
            }
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
