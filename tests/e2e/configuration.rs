//! The configuration as users meet it: the reference page written from the
//! declarations, `--print-config`, and start-up refused on a bad value or, under the
//! production profile, on the local stack's credentials.

use std::path::PathBuf;
use std::process::{Command, Output};

use bgjobs_config::{Environment, Section, Variable};

const INGEST: &str = env!("CARGO_BIN_EXE_e2e-ingest");
const JOBS_REGISTRY: &str = env!("CARGO_BIN_EXE_e2e-jobs-registry");
const PRODUCT_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-product-upload");

/// Every program and the variables it reads.
fn programs() -> Vec<(&'static str, Vec<&'static Variable>)> {
    vec![
        ("ingest", ingest::Settings::variables()),
        ("jobs-registry", jobs_registry::Settings::variables()),
        ("product-upload", product_upload::Settings::variables()),
        ("warehouse-upload", warehouse_upload::Settings::variables()),
        ("delete-client", delete_client::Settings::variables()),
        ("gateway", gateway::Settings::variables()),
        ("notifier", notifier::Settings::variables()),
        ("jobsctl", jobsctl::settings::Settings::variables()),
    ]
}

/// `docs/configuration.md` is written from the declarations: this fails when a
/// declaration changed and the page was not written again (`make docs` writes it).
#[test]
fn the_configuration_reference_matches_the_declarations() -> anyhow::Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let written = bgjobs_config::reference::render(&programs());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &written)?;
    }
    let committed = std::fs::read_to_string(&path)?;
    assert!(
        committed == written,
        "docs/configuration.md differs from the settings' declarations; run `make docs` and \
         commit the result"
    );
    Ok(())
}

/// Where ingest finds the keys of users' tokens, which have no default.
const TOKEN_KEYS: [(&str, &str); 2] = [
    ("BGJOBS_AUTH_JWKS_URL", "https://idp.example.com/jwks"),
    ("BGJOBS_AUTH_ISSUER", "https://idp.example.com"),
];

fn run(program: &str, arguments: &[&str], variables: &[(&str, &str)]) -> anyhow::Result<Output> {
    let mut command = Command::new(program);
    command.args(arguments);
    // Only what the test gives: the suite's own BGJOBS_* must not leak in.
    for (name, _) in std::env::vars() {
        if ["BGJOBS_", "AWS_", "OTEL_"].iter().any(|prefix| name.starts_with(prefix)) {
            command.env_remove(name);
        }
    }
    command.envs(variables.iter().copied());
    Ok(command.output()?)
}

#[test]
fn every_service_prints_its_configuration_with_secrets_redacted() -> anyhow::Result<()> {
    let secrets = [
        ("BGJOBS_AMQP_URL", "amqp://jobs:hunter2@broker:5672/%2f"),
        ("BGJOBS_DATABASE_URL", "postgres://app:hunter3@db:5432/bgjobs"),
        ("AWS_SECRET_ACCESS_KEY", "hunter4-very-secret"),
        ("BGJOBS_BATCH_SIZE", "250"),
        TOKEN_KEYS[0],
        TOKEN_KEYS[1],
    ];
    for program in [INGEST, JOBS_REGISTRY, PRODUCT_UPLOAD] {
        let output = run(program, &["--print-config"], &secrets)?;
        let printed = String::from_utf8(output.stdout)?;
        assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(!printed.contains("hunter"), "{program} printed a secret:\n{printed}");
        assert!(printed.contains("BGJOBS_PROFILE=development\n"), "{program}:\n{printed}");
        assert!(printed.contains("BGJOBS_LOG_FORMAT=text\n"), "{program}:\n{printed}");
    }
    let ingest = String::from_utf8(run(INGEST, &["--print-config"], &secrets)?.stdout)?;
    assert!(
        ingest.contains("BGJOBS_AMQP_URL=amqp://jobs:<redacted>@broker:5672/%2f\n"),
        "{ingest}"
    );
    assert!(ingest.contains("AWS_SECRET_ACCESS_KEY=<redacted>\n"), "{ingest}");
    assert!(ingest.contains("BGJOBS_MAX_UPLOAD_BYTES=1073741824\n"), "{ingest}");
    let registry = String::from_utf8(run(JOBS_REGISTRY, &["--print-config"], &secrets)?.stdout)?;
    assert!(registry.contains("BGJOBS_DATABASE_URL=postgres://app:<redacted>@db:5432/bgjobs\n"));
    assert!(!registry.contains("BGJOBS_AMQP_URL"), "the registry reads no broker:\n{registry}");
    let consumer = String::from_utf8(run(PRODUCT_UPLOAD, &["--print-config"], &secrets)?.stdout)?;
    assert!(consumer.contains("BGJOBS_BATCH_SIZE=250\n"), "{consumer}");
    Ok(())
}

#[test]
fn a_bad_value_stops_start_up_with_one_message() -> anyhow::Result<()> {
    let output = run(INGEST, &[], &[("BGJOBS_DELIVERY_LIMIT", "0"), TOKEN_KEYS[0], TOKEN_KEYS[1]])?;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr)?;
    assert!(
        stderr.contains(
            "ingest cannot start: BGJOBS_DELIVERY_LIMIT='0' is not allowed: expected a whole \
             number from 1 to 100"
        ),
        "{stderr}"
    );
    let output = run(PRODUCT_UPLOAD, &[], &[("BGJOBS_AMQP_URL", "http://guest:hunter2@broker")])?;
    let stderr = String::from_utf8(output.stderr)?;
    assert!(!output.status.success());
    assert!(stderr.contains("BGJOBS_AMQP_URL='http://guest:<redacted>@broker'"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    Ok(())
}

#[test]
fn the_production_profile_refuses_the_local_stacks_credentials() -> anyhow::Result<()> {
    let output =
        run(INGEST, &[], &[("BGJOBS_PROFILE", "production"), TOKEN_KEYS[0], TOKEN_KEYS[1]])?;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr)?;
    for refused in [
        "set BGJOBS_AMQP_URL (it signs in with RabbitMQ's built-in guest:guest account)",
        "set AWS_SECRET_ACCESS_KEY (it is the local stack's built-in secret key)",
    ] {
        assert!(stderr.contains(refused), "{refused}\n{stderr}");
    }

    let output = run(JOBS_REGISTRY, &[], &[("BGJOBS_PROFILE", "production")])?;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr)?;
    assert!(
        stderr.contains("set BGJOBS_DATABASE_URL (it connects to Postgres without a password)"),
        "{stderr}"
    );

    let gateway_demo = Environment::from_pairs([
        ("BGJOBS_PROFILE", "production"),
        ("BGJOBS_GATEWAY_DEMO_USERS", "true"),
        ("AWS_SECRET_ACCESS_KEY", "a-real-secret"),
    ]);
    let refused = bgjobs_config::check_profile::<gateway::Settings>(&gateway_demo)
        .expect_err("demo users in production");
    assert_eq!(
        refused.to_string(),
        "BGJOBS_PROFILE=production refuses the local stack's built-in credentials: set \
         BGJOBS_GATEWAY_DEMO_USERS (demo users sign in without a password)"
    );
    Ok(())
}

#[test]
fn the_production_profile_accepts_real_credentials() {
    let real = Environment::from_pairs([
        ("BGJOBS_PROFILE", "production"),
        ("BGJOBS_AMQP_URL", "amqps://bgjobs:s3cret@broker:5671/bgjobs"),
        ("BGJOBS_DATABASE_URL", "postgres://bgjobs:s3cret@db:5432/bgjobs"),
        ("AWS_SECRET_ACCESS_KEY", "a-real-secret"),
    ]);
    for check in [
        bgjobs_config::check_profile::<ingest::Settings>,
        bgjobs_config::check_profile::<jobs_registry::Settings>,
        bgjobs_config::check_profile::<delete_client::Settings>,
        bgjobs_config::check_profile::<jobsctl::settings::Settings>,
    ] {
        assert_eq!(check(&real), Ok(()));
    }
}
