use bgjobs_config::Environment;

use bgjobs_identity::Service;
use bgjobs_test_support::{brokers, pki, postgres::server_url, unique_suffix};
use jobs_registry::{Application, Settings};
use sea_orm::{ConnectionTrait, Database, Statement};

/// Whether the `jobs.jobs` table exists in the database at `url`.
async fn has_jobs_table(url: &str) -> anyhow::Result<bool> {
    let database = Database::connect(url).await?;
    let row = database
        .query_one(Statement::from_string(
            database.get_database_backend(),
            "SELECT to_regclass('jobs.jobs') IS NOT NULL AS present",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get("", "present")?)
}

#[tokio::test]
async fn build_creates_a_missing_database_and_migrates_it() -> anyhow::Result<()> {
    let database_url = format!("{}/bgjobs_t_{}", server_url(), unique_suffix());
    let settings = Settings::load(&Environment::from_pairs(
        [
            ("BGJOBS_DATABASE_URL", database_url.clone()),
            ("BGJOBS_PREFIX", format!("t{}.", unique_suffix())),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .chain(pki::tls_env(Service::JobsRegistry))
        .chain(brokers::stack_env(Service::JobsRegistry)),
    ))?;

    let application = Application::build(settings.clone()).await?;

    assert_ne!(application.grpc_addr().port(), 0);
    assert!(has_jobs_table(&database_url).await?);
    let nats = bgjobs_messaging::events::connect(brokers::NATS_ADMIN_URL).await?;
    let names = bgjobs_messaging::Names::new(settings.prefix.to_string());
    bgjobs_messaging::events::delete_stream(&nats, &names).await?;
    Ok(())
}

#[tokio::test]
async fn the_migrate_command_creates_the_database_and_exits() -> anyhow::Result<()> {
    let database_url = format!("{}/bgjobs_t_{}", server_url(), unique_suffix());

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobs-registry"))
        .arg("migrate")
        .env("BGJOBS_DATABASE_URL", &database_url)
        .output()
        .await?;

    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(has_jobs_table(&database_url).await?);
    Ok(())
}

#[tokio::test]
async fn a_bad_setting_stops_the_process_with_its_name() -> anyhow::Result<()> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobs-registry"))
        .arg("migrate")
        .env("BGJOBS_REGISTRY_GRPC_ADDR", "localhost:50051")
        .output()
        .await?;

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "jobs-registry cannot start: BGJOBS_REGISTRY_GRPC_ADDR='localhost:50051' is not \
             allowed"
        ),
        "{stderr}"
    );
    Ok(())
}
