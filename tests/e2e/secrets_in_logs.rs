//! Secrets never reach a log: every service runs as a process, at debug level, with
//! known secret values that still let it work against the local stack (passwords in
//! the RabbitMQ, NATS, Postgres and SMTP URLs, the object store's secret key, the
//! gateway's download secret, each service's TLS private key); one job runs through,
//! every process stops on SIGTERM, and no line any of them wrote holds a secret, as
//! given or URL-encoded. A service that cannot connect to a server does not log the
//! password of its URL either.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_identity::Service;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::{pki, postgres, unique_suffix, wait};

const REGISTRY: &str = env!("CARGO_BIN_EXE_e2e-jobs-registry");
const INGEST: &str = env!("CARGO_BIN_EXE_e2e-ingest");
const PRODUCT_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-product-upload");
const WAREHOUSE_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-warehouse-upload");
const DELETE_CLIENT: &str = env!("CARGO_BIN_EXE_e2e-delete-client");
const NOTIFIER: &str = env!("CARGO_BIN_EXE_e2e-notifier");
const GATEWAY: &str = env!("CARGO_BIN_EXE_e2e-gateway");
const DEADLINE: Duration = Duration::from_secs(60);

/// The RabbitMQ user `deploy/stack.sh up` makes for this test, and its password: the
/// broker checks it, so it cannot be made up per run.
const RABBITMQ_USER: &str = "bgjobs-log-probe";
const RABBITMQ_PASSWORD: &str = "lp-4c1f9a7e2b8d6035e9a1c7f4b2d80e6a";

/// A service binary to run, as whom, with which variables besides the system's.
type ServiceRun<'a> = (&'a str, Service, Vec<(&'a str, &'a str)>);

/// A secret no log could hold by chance.
fn made_up_secret(kind: &str) -> String {
    format!("{kind}-{}", uuid::Uuid::new_v4().simple())
}

/// A loopback address no one listens on now, for a child process to bind.
fn free_address() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// `text` with every byte but ASCII letters and digits percent-encoded, as a URL
/// may carry a password.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The lines of a PEM file's body: a log holding one holds part of the key.
fn pem_body_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let pem = std::fs::read_to_string(path)?;
    Ok(pem
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .map(str::to_owned)
        .collect())
}

/// Where [`ServiceProcess`] writes the output of `worker` started as `log_name`.
fn log_path(log_name: &str, worker: &str) -> PathBuf {
    std::env::temp_dir()
        .join("bgjobs-e2e")
        .join(format!("{log_name}-{}.log", worker.replace('/', "-")))
}

/// Every line of the files `logs` that holds one of `secrets` (named), as
/// `file:line: which secret`.
fn lines_with_secrets(
    logs: &[PathBuf],
    secrets: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for log in logs {
        let text = String::from_utf8_lossy(&std::fs::read(log)?).into_owned();
        for (number, line) in text.lines().enumerate() {
            for (name, secret) in secrets {
                if line.contains(secret.as_str()) {
                    found.push(format!("{}:{}: {name}: {line}", log.display(), number + 1));
                }
            }
        }
    }
    Ok(found)
}

#[tokio::test]
async fn no_service_logs_a_secret_in_a_full_run_at_debug_level() -> anyhow::Result<()> {
    let nats_password = made_up_secret("nats");
    let postgres_password = made_up_secret("pg");
    let smtp_password = made_up_secret("smtp");
    let download_secret = made_up_secret("download");
    // The local object store accepts only its own key.
    let s3_secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .unwrap_or_else(|_| bgjobs_object_store::LOCAL_SECRET_ACCESS_KEY.to_owned());

    // NATS without authorization and Postgres trusting loopback accept any password.
    let environment = Environment {
        amqp_url: Some(format!("amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@127.0.0.1:5672/%2f")),
        nats_url: Some(format!("nats://bgjobs:{nats_password}@127.0.0.1:4222")),
        postgres_server_url: Some(postgres::server_url().replacen(
            "postgres@",
            &format!("postgres:{postgres_password}@"),
            1,
        )),
        ingest_as_process: true,
        registry_as_process: true,
        delete_client_as_process: true,
        settings: vec![("AWS_SECRET_ACCESS_KEY", s3_secret.clone())],
    };
    let system = TestSystem::start_in(Options { product_upload_in_process: false }, environment)
        .await
        .map_err(|error| {
            error.context(format!(
                "starting the system as {RABBITMQ_USER}; `deploy/stack.sh up` makes that \
                 RabbitMQ user"
            ))
        })?;

    let run = format!("secrets-{}", unique_suffix());
    let gateway_addr = free_address()?;
    let notifier_health = free_address()?;
    let smtp_url = format!("smtp://bgjobs:{smtp_password}@127.0.0.1:2525");
    let debug = ("RUST_LOG", "debug");
    let services: Vec<ServiceRun> = vec![
        (REGISTRY, Service::JobsRegistry, vec![]),
        (INGEST, Service::Ingest, vec![]),
        (PRODUCT_UPLOAD, Service::ProductUpload, vec![]),
        (WAREHOUSE_UPLOAD, Service::WarehouseUpload, vec![]),
        (DELETE_CLIENT, Service::DeleteClient, vec![]),
        (
            NOTIFIER,
            Service::Notifier,
            vec![("BGJOBS_SMTP_URL", &smtp_url), ("BGJOBS_OPS_ADDR", &notifier_health)],
        ),
        (
            GATEWAY,
            Service::Gateway,
            vec![
                ("BGJOBS_GATEWAY_HTTP_ADDR", &gateway_addr),
                ("BGJOBS_DOWNLOAD_SECRET", &download_secret),
                ("BGJOBS_INGEST_URL", &system.ingest_url),
            ],
        ),
    ];
    let mut processes = Vec::new();
    let mut logs = Vec::new();
    let mut key_lines = Vec::new();
    for (binary, service, extra_env) in &services {
        let worker = format!("{}/{}", service.name(), system.account);
        let env: Vec<(&str, &str)> = extra_env.iter().copied().chain([debug]).collect();
        processes.push(ServiceProcess::start(Path::new(binary), &system, &worker, &run, &env)?);
        logs.push(log_path(&run, &worker));
        for line in pem_body_lines(&pki::tls(*service).key_file)? {
            key_lines.push((format!("{} TLS private key", service.name()), line));
        }
    }

    // Every service up: the HTTP ones answer, the registry serves, the job runs through.
    for base in [
        system.ingest_url.clone(),
        format!("http://{gateway_addr}"),
        format!("http://{notifier_health}"),
    ] {
        wait::until(&format!("{base} to be ready"), DEADLINE, || async {
            let ready = system.http.get(format!("{base}/readyz")).send().await;
            Ok(ready.ok().filter(|response| response.status().is_success()).map(|_| ()))
        })
        .await?;
    }
    let job_id = system
        .submit_products_as(
            &system.user_token(Some("tester@example.com")),
            product_file(3, &[]),
            "",
        )
        .await?;
    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    // The notifier tries the email with the SMTP URL's user and password, whatever the
    // local server makes of them.
    let notifier_log =
        &logs[services.iter().position(|run| run.1 == Service::Notifier).unwrap_or(0)];
    wait::until("the notifier to try the email", DEADLINE, || async {
        let log = std::fs::read_to_string(notifier_log).unwrap_or_default();
        let tried = ["email sent", "email not sent yet", "email refused for good"]
            .iter()
            .any(|outcome| log.contains(outcome));
        Ok(tried.then_some(()))
    })
    .await?;

    for process in &processes {
        process.terminate()?;
    }
    for (process, (binary, _, _)) in processes.iter_mut().zip(&services) {
        let (status, _took) = process.exited(DEADLINE).await?;
        assert!(status.success(), "{binary} exited with {status}");
    }

    for log in &logs {
        let text = std::fs::read_to_string(log)?;
        assert!(text.contains("DEBUG"), "{} holds no debug line", log.display());
    }
    let mut secrets: Vec<(String, String)> = Vec::new();
    for (name, value) in [
        ("the RabbitMQ password", RABBITMQ_PASSWORD),
        ("the NATS password", &nats_password),
        ("the Postgres password", &postgres_password),
        ("the SMTP password", &smtp_password),
        ("the object store's secret key", &s3_secret),
        ("the download secret", &download_secret),
    ] {
        secrets.push((name.to_owned(), value.to_owned()));
        secrets.push((format!("{name}, URL-encoded"), url_encoded(value)));
    }
    secrets.extend(key_lines);
    let found = lines_with_secrets(&logs, &secrets)?;
    assert!(found.is_empty(), "secrets in the logs:\n{}", found.join("\n"));
    system.stop().await
}

/// A service that cannot connect exits with the error chain of the connection, and no
/// line of it holds the password: each connection the consumers open (Postgres, NATS,
/// RabbitMQ) in turn, in the order they open them, each with a password in its URL.
#[tokio::test]
async fn a_failed_connection_does_not_log_its_password() -> anyhow::Result<()> {
    let password = made_up_secret("pw");
    let closed_port = bgjobs_e2e::private_stack::free_port()?;
    let database_url = postgres::fresh_database().await?;
    let database_url = database_url.replacen("postgres@", &format!("postgres:{password}@"), 1);
    let nats_url = format!("nats://bgjobs:{password}@127.0.0.1:4222");
    let amqp_url = format!("amqp://{RABBITMQ_USER}:{password}@127.0.0.1:5672/%2f");
    let closed = format!("127.0.0.1:{closed_port}");
    let cases = [
        (
            "postgres",
            format!("postgres://postgres:{password}@{closed}/bgjobs"),
            nats_url.clone(),
            amqp_url.clone(),
        ),
        (
            "nats",
            database_url.clone(),
            format!("nats://bgjobs:{password}@{closed}"),
            amqp_url.clone(),
        ),
        // The broker refuses the password: the right user, the wrong password.
        ("rabbitmq", database_url.clone(), nats_url.clone(), amqp_url.clone()),
    ];
    let suffix = unique_suffix();
    for (server, database_url, nats_url, amqp_url) in cases {
        let env = [
            ("BGJOBS_DATABASE_URL", database_url),
            ("BGJOBS_NATS_URL", nats_url),
            ("BGJOBS_AMQP_URL", amqp_url),
            ("BGJOBS_PREFIX", format!("t{suffix}.")),
            ("BGJOBS_S3_BUCKET", format!("bgjobs-t-{suffix}")),
            ("RUST_LOG", "debug".to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value));
        let log_name = format!("secrets-unreachable-{suffix}");
        let worker = format!("product-upload/{server}");
        let mut consumer =
            ServiceProcess::start_with_env(Path::new(PRODUCT_UPLOAD), &env, &worker, &log_name)?;
        let (status, _took) = consumer.exited(DEADLINE).await?;
        assert!(!status.success(), "the consumer started without {server}");
        let log = log_path(&log_name, &worker);
        let secrets = [
            ("the password".to_owned(), password.clone()),
            ("the password, URL-encoded".to_owned(), url_encoded(&password)),
        ];
        let found = lines_with_secrets(std::slice::from_ref(&log), &secrets)?;
        assert!(found.is_empty(), "{server}: secrets in the log:\n{}", found.join("\n"));
    }
    Ok(())
}
