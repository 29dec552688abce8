//! The notifier in tests: started in-process against a [`TestSystem`], a private
//! SMTP server a test can stop and start, and waits on what the notifier did.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use bgjobs_proto::v1::LogEntry;
use bgjobs_test_support::{unique_suffix, wait};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::TestSystem;
use crate::private_stack::free_port;

/// How long a private SMTP server may take to greet.
const SMTP_START_DEADLINE: Duration = Duration::from_secs(30);

/// An SMTP server of the test's own: the local stack's (aiosmtpd with
/// `deploy/smtp_handler.py`) on a free port, keeping mail in a Maildir of its own.
/// Stopping it refuses connections, as a mail server that is down does.
pub struct PrivateSmtp {
    port: u16,
    maildir: PathBuf,
    child: Mutex<Option<Child>>,
}

impl PrivateSmtp {
    /// Starts a server and waits until it greets.
    pub async fn start() -> anyhow::Result<Self> {
        let maildir = std::env::temp_dir().join(format!("bgjobs-mail-{}", unique_suffix()));
        for folder in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(folder))?;
        }
        let server = Self { port: free_port()?, maildir, child: Mutex::new(None) };
        server.start_again().await?;
        Ok(server)
    }

    /// The URL the notifier sends to.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Where the server keeps what it receives.
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Stops the server (SIGKILL): connections are refused until it starts again.
    pub fn stop(&self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.lock().expect("not poisoned").take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the stopped server on the same port and Maildir, and waits until it greets.
    pub async fn start_again(&self) -> anyhow::Result<()> {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "smtp_handler.Mailbox"])
            .arg(&self.maildir)
            .env("PYTHONPATH", deploy)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting aiosmtpd (deploy/stack.sh up installs it)")?;
        *self.child.lock().expect("not poisoned") = Some(child);
        let port = self.port;
        wait::until("the private SMTP server to greet", SMTP_START_DEADLINE, || async move {
            Ok(greets(port).await.then_some(()))
        })
        .await
    }
}

impl Drop for PrivateSmtp {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// True when an SMTP server on `port` sends its 220 greeting.
async fn greets(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut banner = [0u8; 3];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut banner)).await,
        Ok(Ok(_)) if &banner == b"220"
    )
}

/// A notifier running in the test's runtime.
pub struct RunningNotifier {
    /// Where its probes and metrics are served.
    pub ops_addr: std::net::SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningNotifier {
    /// Stops it as SIGTERM would and waits, failing if it failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("the notifier panicked")?
    }
}

impl TestSystem {
    /// The variables a notifier of this system reads: the system's and the notifier's
    /// certificate, sending to
    /// `smtp_url`, retrying after 1 s at first and 2 s at most, plus `extra`.
    pub fn notifier_env(&self, smtp_url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> =
            self.env.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        env.extend(
            bgjobs_test_support::pki::tls_env(bgjobs_identity::Service::Notifier)
                .map(|(name, value)| (name.to_owned(), value)),
        );
        let lookup = |name: &str| self.env.get(name).cloned();
        for (name, url) in crate::brokers::service_urls(lookup, bgjobs_identity::Service::Notifier)
        {
            env.retain(|(existing, _)| existing != name);
            env.push((name.to_owned(), url));
        }
        for (name, value) in [
            ("BGJOBS_SMTP_URL", smtp_url),
            ("BGJOBS_SMTP_TIMEOUT_SECS", "5"),
            ("BGJOBS_OPS_ADDR", "127.0.0.1:0"),
            ("BGJOBS_MAIL_RETRY_FIRST_SECS", "1"),
            ("BGJOBS_MAIL_RETRY_MAX_SECS", "2"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            env.retain(|(existing, _)| existing != name);
            env.push((name.to_owned(), value.to_owned()));
        }
        env
    }

    /// Starts a notifier in-process (see [`Self::notifier_env`]).
    pub async fn start_notifier(
        &self,
        smtp_url: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<RunningNotifier> {
        let env = self.notifier_env(smtp_url, extra);
        let settings =
            notifier::Settings::from_environment(&bgjobs_config::Environment::from_lookup(
                |name| env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()),
            ))?;
        let application = notifier::Application::build(settings).await?;
        let ops_addr = application.ops_addr().context("the notifier serves no probes")?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
        Ok(RunningNotifier { ops_addr, stop, task })
    }

    /// Waits until the job's log has a line by the notifier, and returns it.
    pub async fn notifier_note(
        &self,
        job_id: &str,
        deadline: Duration,
    ) -> anyhow::Result<LogEntry> {
        wait::until(&format!("the notifier's note on job {job_id}"), deadline, || async {
            let log = self.log(job_id).await?;
            Ok(log.into_iter().find(|entry| entry.actor == notifier::sender::ACTOR))
        })
        .await
    }

    /// Waits until the notifier's durable consumer `consumer` has nothing left to
    /// deliver and nothing delivered unacknowledged: every event it was given is
    /// settled, redeliveries included.
    pub async fn notifier_consumer_settled(
        &self,
        consumer: &str,
        deadline: Duration,
    ) -> anyhow::Result<()> {
        let nats = bgjobs_messaging::events::connect(&self.env["BGJOBS_NATS_URL"]).await?;
        let stream = jetstream::new(nats).get_stream(self.names.events_stream()).await?;
        wait::until(&format!("consumer {consumer} to settle every event"), deadline, || async {
            let mut durable: consumer::PullConsumer =
                stream.get_consumer(consumer).await.map_err(|error| anyhow::anyhow!("{error}"))?;
            let info = durable.info().await.map_err(|error| anyhow::anyhow!("{error}"))?;
            Ok((info.num_pending == 0 && info.num_ack_pending == 0).then_some(()))
        })
        .await
    }
}
