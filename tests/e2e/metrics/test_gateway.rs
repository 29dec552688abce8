//! A gateway started in-process in front of a [`TestSystem`], trusting the tests'
//! identity provider as ingest does, with its probes and metrics on a port of their
//! own: what a user's browser reads the jobs through.

use std::collections::HashMap;
use std::net::SocketAddr;

use bgjobs_e2e::TestSystem;
use bgjobs_identity::Service;
use bgjobs_test_support::pki;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A gateway serving until [`TestGateway::stop`].
pub struct TestGateway {
    /// Its base URL, e.g. `http://127.0.0.1:40123`.
    url: String,
    /// Where its probes and metrics are served.
    pub ops: SocketAddr,
    http: reqwest::Client,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestGateway {
    /// Starts a gateway with the system's settings and the gateway's certificate.
    pub async fn start(system: &TestSystem) -> anyhow::Result<Self> {
        let env: HashMap<&str, String> = system
            .service_env()
            .map(|(name, value)| (name, value.to_owned()))
            .chain(pki::tls_env(Service::Gateway))
            .collect();
        let settings =
            gateway::Settings::load(&bgjobs_config::Environment::from_lookup(|name| match name {
                "BGJOBS_GATEWAY_HTTP_ADDR" => Some("127.0.0.1:0".to_owned()),
                "BGJOBS_INGEST_URL" => Some(system.ingest_url.clone()),
                _ => env.get(name).cloned().or_else(|| std::env::var(name).ok()),
            }))
            .map_err(anyhow::Error::msg)?;
        let application = gateway::Application::build(settings).await?;
        let url = format!("http://{}", application.local_addr());
        let ops = application.ops_addr().ok_or_else(|| anyhow::anyhow!("no operations address"))?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        Ok(Self { url, ops, http: reqwest::Client::new(), stop, task })
    }

    /// `GET path` of the API as the user of `token`: the JSON body, failing unless the
    /// gateway answers 200.
    pub async fn get(&self, token: &str, path: &str) -> anyhow::Result<serde_json::Value> {
        let response =
            self.http.get(format!("{}{path}", self.url)).bearer_auth(token).send().await?;
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(status == 200, "GET {path} answered {status}: {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// Stops it as SIGTERM would and waits, failing if it failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await?
    }
}
