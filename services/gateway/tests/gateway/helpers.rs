//! A gateway started in-process in front of a whole test system, and tokens of every
//! kind the authorisation tests need.

use std::sync::OnceLock;
use std::time::Duration;

use bgjobs_config::Environment;
use bgjobs_e2e::TestSystem;
use bgjobs_identity::Service;
use bgjobs_test_support::{pki, tokens};
use chrono::Utc;
use gateway::auth::SigningKey;
use gateway::auth::{Claims, RETRY_ROLE, VIEW_ROLE};
use gateway::settings::KeySource;
use gateway::{Application, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a job may take to finish in these tests.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// The user id (`sub`) of [`Who::Operator`].
pub const OPERATOR_ID: &str = "u-omar";
/// The email address of [`Who::Operator`] (its token has no `zoneinfo`).
pub const OPERATOR_EMAIL: &str = "omar@example.com";
/// The issuer the test gateway trusts (and ingest, to which it forwards tokens).
pub const ISSUER: &str = tokens::ISSUER;
/// The audience the test gateway expects.
const AUDIENCE: &str = "bgjobs";

/// The key the test gateway trusts: the tests' identity provider's, which ingest
/// trusts too.
pub fn trusted_key() -> &'static SigningKey {
    tokens::key()
}

/// A key the gateway does not trust.
pub fn foreign_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("an RSA key"))
}

/// The callers of the authorisation matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// No Authorization header.
    Nobody,
    /// A header that is not a JWT.
    Malformed,
    /// A token signed by a key the gateway does not trust.
    WrongKey,
    /// A token that expired an hour ago.
    Expired,
    /// A token for another audience.
    WrongAudience,
    /// A valid token without the view role.
    NoRole,
    /// The view role only.
    Viewer,
    /// The view and retry roles.
    Operator,
    /// The view and retry roles, in another account.
    OtherAccount,
}

/// A running system with a gateway in front of it.
pub struct TestGateway {
    /// The system behind the gateway.
    pub system: TestSystem,
    /// The gateway's base URL.
    pub url: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The other account of [`Who::OtherAccount`].
    pub other_account: String,
    /// Stops the gateway when the test ends, however it ends.
    _stop: DropGuard,
    /// The same stop, for a test that stops the gateway itself.
    stop_gateway: CancellationToken,
    /// The gateway's serving task.
    running: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestGateway {
    /// Starts the system and a gateway that trusts [`trusted_key`].
    pub async fn start() -> anyhow::Result<Self> {
        let system = TestSystem::start().await?;
        let mut settings = settings_for(&system, &[("BGJOBS_GATEWAY_DEMO_USERS", "true")])?;
        settings.keys = KeySource::Pem(trusted_key().public_pem().to_owned());
        settings.issuer = ISSUER.to_owned();
        Self::start_with(system, settings).await
    }

    /// Starts a gateway with `settings` in front of `system`.
    pub async fn start_with(system: TestSystem, settings: Settings) -> anyhow::Result<Self> {
        let application = Application::build(settings).await?;
        let url = format!("http://{}", application.local_addr());
        let stop = CancellationToken::new();
        let running = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        let other_account = format!("other-{}", system.account);
        Ok(Self {
            system,
            url,
            http: reqwest::Client::new(),
            other_account,
            stop_gateway: stop.clone(),
            running: Some(running),
            _stop: stop.drop_guard(),
        })
    }

    /// Shuts the gateway down (as SIGTERM does) and waits until it has stopped; answers
    /// how long that took.
    pub async fn shut_down_gateway(&mut self) -> anyhow::Result<Duration> {
        let started = tokio::time::Instant::now();
        self.stop_gateway.cancel();
        if let Some(running) = self.running.take() {
            running.await??;
        }
        Ok(started.elapsed())
    }

    /// Stops the gateway, then the system, removing the test's queues and stream so that
    /// test runs do not pile up quorum queues on the shared broker.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Self { system, _stop, .. } = self;
        drop(_stop);
        system.stop().await
    }

    /// A request to `path` as `who`.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        who: Who,
    ) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.url));
        match self.token(who) {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `GET path` as `who`, answering the status and the JSON body (Null when not JSON).
    pub async fn get(&self, path: &str, who: Who) -> anyhow::Result<(u16, serde_json::Value)> {
        let response = self.request(reqwest::Method::GET, path, who).send().await?;
        Ok(status_and_json(response).await)
    }

    /// `POST path` (no body) as `who`.
    pub async fn post(&self, path: &str, who: Who) -> anyhow::Result<(u16, serde_json::Value)> {
        let response = self.request(reqwest::Method::POST, path, who).send().await?;
        Ok(status_and_json(response).await)
    }

    /// The bearer token of `who`.
    pub fn token(&self, who: Who) -> Option<String> {
        let claims = |roles: &[&str]| self.claims(roles);
        let sign = |claims: Claims| trusted_key().sign(&claims).expect("signed");
        Some(match who {
            Who::Nobody => return None,
            Who::Malformed => "not-a-jwt".to_owned(),
            Who::WrongKey => foreign_key().sign(&claims(&[VIEW_ROLE, RETRY_ROLE])).expect("signed"),
            Who::Expired => {
                sign(Claims { exp: Utc::now().timestamp() - 3600, ..claims(&[VIEW_ROLE]) })
            }
            Who::WrongAudience => {
                sign(Claims { aud: "another-app".to_owned(), ..claims(&[VIEW_ROLE]) })
            }
            Who::NoRole => sign(claims(&["SomethingElse"])),
            Who::Viewer => sign(claims(&[VIEW_ROLE])),
            Who::Operator => sign(self.operator_claims()),
            Who::OtherAccount => sign(Claims {
                name: "Olga Other".to_owned(),
                account: self.other_account.clone(),
                ..claims(&[VIEW_ROLE, RETRY_ROLE])
            }),
        })
    }

    /// The claims of [`Who::Operator`], for a test that signs a variation of them.
    pub fn operator_claims(&self) -> Claims {
        Claims {
            sub: OPERATOR_ID.to_owned(),
            name: "Omar Operator".to_owned(),
            email: Some(OPERATOR_EMAIL.to_owned()),
            ..self.claims(&[VIEW_ROLE, RETRY_ROLE])
        }
    }

    /// Valid claims of a user with `roles` in the test's account, without an address.
    fn claims(&self, roles: &[&str]) -> Claims {
        Claims {
            sub: "u-1".to_owned(),
            name: "Vera Viewer".to_owned(),
            account: self.system.account.to_string(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            email: None,
            zoneinfo: None,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: Utc::now().timestamp() + 3600,
            iat: Some(Utc::now().timestamp()),
            nbf: None,
        }
    }

    /// Uploads `rows` good product rows through ingest and waits for the job to
    /// complete; returns its id.
    pub async fn completed_upload(&self, rows: u32) -> anyhow::Result<String> {
        let job_id = self.system.submit_products(product_file(rows)).await?;
        let job = self.system.finished_job(&job_id, DEADLINE).await?;
        anyhow::ensure!(
            !job.result_object_key.is_empty(),
            "job {job_id} has no results: {}",
            job.message
        );
        Ok(job_id)
    }
}

/// The gateway's settings for `system`, from its environment plus `extra`.
pub fn settings_for(system: &TestSystem, extra: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let owned = |(name, value): (&str, &str)| (name.to_owned(), value.to_owned());
    let certificate = pki::tls_env(Service::Gateway).map(|(name, value)| (name.to_owned(), value));
    // Demo users sign their own tokens: the system's token keys are ingest's only.
    let demo = extra.contains(&("BGJOBS_GATEWAY_DEMO_USERS", "true"));
    let token_keys = ["BGJOBS_AUTH_PUBLIC_KEY_FILE", "BGJOBS_AUTH_ISSUER"];
    let env: std::collections::HashMap<String, String> = system
        .service_env()
        .filter(|(name, _)| !(demo && token_keys.contains(name)))
        .map(owned)
        .chain(certificate)
        .chain(extra.iter().copied().map(owned))
        .collect();
    Settings::load(&Environment::from_lookup(|name| match name {
        "BGJOBS_GATEWAY_HTTP_ADDR" => Some("127.0.0.1:0".to_owned()),
        "BGJOBS_INGEST_URL" => Some(system.ingest_url.clone()),
        _ => env.get(name).cloned().or_else(|| std::env::var(name).ok()),
    }))
    .map_err(anyhow::Error::msg)
}

/// A gateway with no system behind it, for what needs no registry or ingest, or must
/// find them gone: settings from `env`, then the process environment, then `adjust`.
/// Answers its base URL and a guard that stops it.
pub async fn start_alone(
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut Settings),
) -> anyhow::Result<(String, DropGuard)> {
    let certificate = pki::tls_env(Service::Gateway);
    let mut settings = Settings::load(&Environment::from_lookup(|name| {
        let given = env.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned());
        let given = given.or_else(|| {
            certificate.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone())
        });
        match name {
            "BGJOBS_GATEWAY_HTTP_ADDR" => Some("127.0.0.1:0".to_owned()),
            _ => given.or_else(|| std::env::var(name).ok()),
        }
    }))
    .map_err(anyhow::Error::msg)?;
    adjust(&mut settings);
    let application = Application::build(settings).await?;
    let url = format!("http://{}", application.local_addr());
    let stop = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
    Ok((url, stop.drop_guard()))
}

/// A product file of `rows` valid rows.
pub fn product_file(rows: u32) -> String {
    let mut file = String::from("sku,name,price,country_of_origin\n");
    for row in 1..=rows {
        file.push_str(&format!("SKU-{row:05},Product {row},{}.99,DE\n", row % 100));
    }
    file
}

async fn status_and_json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}
