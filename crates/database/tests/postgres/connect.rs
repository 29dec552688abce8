//! A database that cannot be reached is named in the error, its password never.

use anyhow::Context;
use bgjobs_database::Store;

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_named_without_its_password() -> anyhow::Result<()> {
    // A port nothing listens on: the connection is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let url = format!("postgres://bgjobs:s3cret-pw@{closed}/jobs?password=other-s3cret");
    let error = Store::connect(&url).await.err().context("connected to a closed port")?;
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot connect to the database at postgres://bgjobs:<redacted>@{closed}/jobs"
        )),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
    assert!(error.is_transient(), "an unreachable database may come back: {message}");
    Ok(())
}
