//! Private Postgres, RabbitMQ and NATS servers for the fault tests that restart them.
//!
//! The shared local stack is never stopped: other tests run on it. A private server
//! runs on free loopback ports with its data in a scratch directory, and is stopped
//! (its data removed) when dropped, which also happens when a test panics.
//!
//! Each has the local stack's users, one per service (deploy/rabbitmq-users.json,
//! deploy/nats-local.conf), so the services under test sign in as their own users
//! there too; the URLs these servers give sign in as the admin.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_test_support::{unique_suffix, wait};

/// How long a private server may take to start (the machine is shared with builds).
const START_DEADLINE: Duration = Duration::from_secs(90);

/// A private server a fault test stops and starts again: what a restart is depends on
/// the server (see each type).
pub trait Restartable {
    /// Stops the server; clients see their connections cut.
    fn stop(&self) -> impl Future<Output = anyhow::Result<()>>;
    /// Starts the stopped server again and waits until it is ready.
    fn start(&self) -> impl Future<Output = anyhow::Result<()>>;
}

/// A free loopback port, outside 35600-35700: the RabbitMQ command-line tools take
/// ports from 35672 up for their own Erlang distribution.
pub fn free_port() -> anyhow::Result<u16> {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !(35_600..=35_700).contains(&port) {
            return Ok(port);
        }
    }
}

/// A file of the repository's deploy/ directory.
fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(name)
}

/// A directory under the temp dir owned by `owner`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(kind: &str, owner: Option<&str>) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("bgjobs-{kind}-{}", unique_suffix()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        if let Some(owner) = owner {
            run_blocking(Command::new("chown").arg("-R").arg(owner).arg(&path))?;
        }
        Ok(Self(path))
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `command` to completion, failing with its output unless it succeeds.
fn run_blocking(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Like [`run_blocking`], off the async runtime's threads.
async fn run(mut command: Command) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_blocking(&mut command)).await?
}

/// Waits until something accepts TCP connections on `port`.
async fn port_open(port: u16, deadline: Duration) -> anyhow::Result<()> {
    wait::until(&format!("127.0.0.1:{port} to accept connections"), deadline, || async move {
        Ok(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ()))
    })
    .await
}

/// A NATS server with JetStream; a restart kills it (SIGKILL) and starts it again on
/// the same port and store directory.
pub struct PrivateNats {
    port: u16,
    monitor_port: u16,
    dir: Scratch,
    server: Mutex<Option<Child>>,
}

impl PrivateNats {
    /// Starts a server and waits until JetStream is ready.
    pub async fn start() -> anyhow::Result<Self> {
        let nats = Self {
            port: free_port()?,
            monitor_port: free_port()?,
            dir: Scratch::new("nats", None)?,
            server: Mutex::new(None),
        };
        nats.launch().await?;
        Ok(nats)
    }

    /// The client URL, signing in as the admin, e.g.
    /// `nats://bgjobs-admin:admin-local-only@127.0.0.1:40123`.
    pub fn url(&self) -> String {
        crate::brokers::NATS_ADMIN_URL.replace(":4223", &format!(":{}", self.port))
    }

    async fn launch(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats.log"))?;
        let server = Command::new("/usr/sbin/nats-server")
            .arg("-c")
            .arg(deploy_file("nats-local.conf"))
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string(), "-js", "-sd"])
            .arg(self.dir.join("store"))
            // For `deploy/stack.sh clean`, should a killed test leave the server behind.
            .arg("-P")
            .arg(self.dir.join("nats.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting /usr/sbin/nats-server")?;
        *self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(server);
        // /healthz answers 200 once JetStream has recovered its streams.
        let health = format!("http://127.0.0.1:{}/healthz", self.monitor_port);
        let http = reqwest::Client::new();
        wait::until("the private NATS server to be healthy", START_DEADLINE, || async {
            let response = http.get(&health).send().await;
            Ok(response.ok().filter(|response| response.status().is_success()).map(|_| ()))
        })
        .await
    }

    fn kill(&self) {
        let server = self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(mut server) = server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Stop is SIGKILL (a crash); start runs it on the same port and store directory.
impl Restartable for PrivateNats {
    async fn stop(&self) -> anyhow::Result<()> {
        self.kill();
        Ok(())
    }

    async fn start(&self) -> anyhow::Result<()> {
        self.launch().await
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Postgres cluster of its own (initdb'd as user postgres, which initdb requires);
/// a restart stops it in immediate mode (as a crash would) and starts it again.
pub struct PrivatePostgres {
    port: u16,
    bin: PathBuf,
    dir: Scratch,
}

impl PrivatePostgres {
    /// Creates and starts a cluster with trust authentication for user postgres.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let dir = Scratch::new("postgres", Some("postgres"))?;
        let postgres = Self { port: free_port()?, bin, dir };
        let mut initdb = postgres.as_postgres("initdb");
        initdb.arg("-D").arg(postgres.data()).args(["-U", "postgres", "-A", "trust", "--no-sync"]);
        run(initdb).await.context("initdb of the private Postgres")?;
        postgres.pg_ctl_start().await?;
        Ok(postgres)
    }

    /// The server's URL without a database, e.g. `postgres://postgres@127.0.0.1:40123`.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` of the Postgres binaries, run as user postgres.
    fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
        command
    }

    async fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let mut start = self.as_postgres("pg_ctl");
        let socket_dir = self.dir.0.display();
        // fsync off: a test cluster need not survive a power cut, only a server restart.
        let server_options = format!(
            "-p {} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port
        );
        start.arg("-D").arg(self.data()).arg("-l").arg(self.dir.join("postgres.log")).args([
            "-w",
            "-t",
            "90",
            "-o",
            &server_options,
            "start",
        ]);
        run(start).await.context("starting the private Postgres")?;
        port_open(self.port, START_DEADLINE).await
    }

    fn pg_ctl_stop(&self) -> Command {
        let mut stop = self.as_postgres("pg_ctl");
        stop.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        stop
    }
}

/// Stop is immediate mode (every session cut, no checkpoint: as in a crash).
impl Restartable for PrivatePostgres {
    async fn stop(&self) -> anyhow::Result<()> {
        run(self.pg_ctl_stop()).await.context("stopping the private Postgres")
    }

    async fn start(&self) -> anyhow::Result<()> {
        self.pg_ctl_start().await
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Err(error) = run_blocking(&mut self.pg_ctl_stop()) {
            eprintln!("stopping the private Postgres failed: {error:#}");
        }
    }
}

/// The newest installed Postgres' binaries, `/usr/lib/postgresql/<version>/bin`.
fn postgres_bin() -> anyhow::Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<u32> = std::fs::read_dir(root)
        .with_context(|| format!("listing {}; is Postgres installed?", root.display()))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let version = versions.last().context("no Postgres version under /usr/lib/postgresql")?;
    Ok(root.join(version.to_string()).join("bin"))
}

/// A RabbitMQ node of its own (`bgjobs-fault-<suffix>@localhost`, as user rabbitmq
/// so that it shares the command-line tools' Erlang cookie); a restart stops and
/// starts the RabbitMQ application, which closes every connection, and quorum queues
/// come back with their messages.
pub struct PrivateRabbit {
    node: String,
    port: u16,
    dir: Scratch,
    server: Option<Child>,
}

/// The Erlang cookie's home: the node and `rabbitmqctl` must read the same one.
const RABBITMQ_HOME: &str = "/var/lib/rabbitmq";

impl PrivateRabbit {
    /// Starts a node with no plugins and waits until it has booted; returns it and
    /// how long the start took.
    pub async fn start() -> anyhow::Result<(Self, Duration)> {
        let started = Instant::now();
        let dir = Scratch::new("rabbitmq", Some("rabbitmq"))?;
        let port = free_port()?;
        let dist_port = free_port()?;
        let node = format!("bgjobs-fault-{}@localhost", unique_suffix());
        // A config of its own: the shared node's /etc/rabbitmq files name its port and node.
        // The local stack's users, loaded at boot (which then creates no default user:
        // the file has guest too); a copy the rabbitmq user can read.
        std::fs::copy(deploy_file("rabbitmq-users.json"), dir.join("users.json"))?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.1 = 127.0.0.1:{port}\nload_definitions = {}\n",
                dir.join("users.json").display()
            ),
        )?;
        std::fs::write(dir.join("rabbitmq-env.conf"), "")?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        // For `deploy/stack.sh clean`, should a killed test leave the node behind.
        std::fs::write(dir.join("nodename"), &node)?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let path = |name: &str| dir.join(name).display().to_string();
        let server = Command::new("runuser")
            .args(["-u", "rabbitmq", "--", "env"])
            .arg(format!("HOME={RABBITMQ_HOME}"))
            .arg(format!("RABBITMQ_NODENAME={node}"))
            .arg(format!("RABBITMQ_DIST_PORT={dist_port}"))
            .arg(format!("RABBITMQ_MNESIA_BASE={}", path("mnesia")))
            .arg(format!("RABBITMQ_LOG_BASE={}", path("log")))
            .arg(format!("RABBITMQ_PID_FILE={}", path("node.pid")))
            .arg(format!("RABBITMQ_CONFIG_FILE={}", path("rabbitmq.conf")))
            .arg(format!("RABBITMQ_CONF_ENV_FILE={}", path("rabbitmq-env.conf")))
            .arg(format!("RABBITMQ_ENABLED_PLUGINS_FILE={}", path("enabled_plugins")))
            .arg("ERL_EPMD_ADDRESS=127.0.0.1")
            .arg("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}")
            .arg("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a private rabbitmq-server")?;
        let rabbit = Self { node, port, dir, server: Some(server) };
        rabbit.booted().await?;
        Ok((rabbit, started.elapsed()))
    }

    /// The AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:40123/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The messages in `queue`, ready and unacknowledged alike (what a passive declare
    /// cannot tell: it counts only the ready ones).
    pub async fn messages(&self, queue: &str) -> anyhow::Result<u64> {
        let mut list = self.ctl(&["list_queues", "--no-table-headers", "name", "messages"]);
        let output = tokio::task::spawn_blocking(move || list.output()).await??;
        anyhow::ensure!(
            output.status.success(),
            "rabbitmqctl list_queues failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listing = String::from_utf8(output.stdout)?;
        let count = listing
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .with_context(|| format!("no queue {queue} on the private node"))?
            .1;
        Ok(count.trim().parse()?)
    }

    /// Waits until the node has booted and takes AMQP connections. `await_startup`
    /// fails at once while the node is not yet registered with epmd, hence the loop.
    async fn booted(&self) -> anyhow::Result<()> {
        wait::until("the private RabbitMQ node to boot", START_DEADLINE, || async {
            let mut await_startup = self.ctl(&["await_startup", "--timeout", "30"]);
            await_startup.stdout(Stdio::null()).stderr(Stdio::null());
            let booted = tokio::task::spawn_blocking(move || await_startup.status()).await??;
            Ok(booted.success().then_some(()))
        })
        .await?;
        port_open(self.port, START_DEADLINE).await
    }

    /// The connections open on the node whose client named them `name` (the program's
    /// name, see `bgjobs_messaging::amqp::connect`), as the broker's connection pids.
    pub async fn connections_named(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let columns = ["list_connections", "--no-table-headers", "pid", "client_properties"];
        let mut list = self.ctl(&columns);
        let output = tokio::task::spawn_blocking(move || list.output()).await??;
        anyhow::ensure!(
            output.status.success(),
            "rabbitmqctl list_connections failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listing = String::from_utf8(output.stdout)?;
        Ok(listing
            .lines()
            .filter_map(|line| line.split_once('\t'))
            // The name is the client property connection_name, printed as a string.
            .filter(|(_, properties)| properties.contains(&format!("\"{name}\"")))
            .map(|(pid, _)| pid.to_owned())
            .collect())
    }

    /// Closes the connection with broker pid `pid`, as a network fault or a broker
    /// restart would: its unacknowledged deliveries go back to their queues.
    pub async fn close_connection(&self, pid: &str) -> anyhow::Result<()> {
        let mut close = self.ctl(&["close_connection", pid, "closed by the fault suite"]);
        let output = tokio::task::spawn_blocking(move || close.output()).await??;
        anyhow::ensure!(
            output.status.success(),
            "rabbitmqctl close_connection failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// `rabbitmqctl -q -n <node> <arguments>`, as user rabbitmq.
    fn ctl(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "rabbitmq", "--", "env"])
            .arg(format!("HOME={RABBITMQ_HOME}"))
            .args(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", &self.node])
            .args(arguments);
        command
    }
}

/// Stop is `rabbitmqctl stop_app` (every connection closed; the node and its quorum
/// queues stay), start is `start_app`.
impl Restartable for PrivateRabbit {
    async fn stop(&self) -> anyhow::Result<()> {
        run(self.ctl(&["stop_app"])).await
    }

    async fn start(&self) -> anyhow::Result<()> {
        run(self.ctl(&["start_app"])).await?;
        self.booted().await
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else { return };
        if let Err(error) = run_blocking(&mut self.ctl(&["stop"])) {
            eprintln!("stopping private RabbitMQ node {} failed: {error:#}", self.node);
            // The child is runuser: SIGKILL would orphan the node, SIGTERM is passed on.
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("node.pid")) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
            let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
        }
        let _ = server.wait();
    }
}
