//! How every bgjobs process starts and stops, in one place: the process-wide TLS
//! crypto provider, telemetry, the configuration read once, the service run until
//! SIGTERM or Ctrl-C, and the last spans flushed. A service's `main` is one call to
//! [`run`].

use std::fmt::Display;
use std::future::Future;

pub use bgjobs_telemetry::shutdown_signal;

/// Installs ring as the process-wide rustls crypto provider, once.
///
/// rustls refuses to pick a provider by itself when more than one is compiled in,
/// and some clients ask for the installed one; call this before any TLS client is
/// built (S3, AMQPS, NATS, Postgres, gRPC over TLS). [`run`] does it for a service;
/// code that builds clients in-process (tests) calls it too. Calling it again, or
/// after another provider was installed, does nothing.
pub fn install_crypto_provider() {
    // Err means a provider is already installed: exactly the state we want.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// Runs the service `name`: installs the crypto provider, sets up telemetry (logs,
/// and spans exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set), reads the
/// configuration with `configure` (a bad value stops start-up with its message),
/// then runs `serve` with it to its end and flushes the last spans. `serve` stops on
/// [`shutdown_signal`].
pub async fn run<S, E, Serve>(
    name: &'static str,
    configure: impl FnOnce() -> Result<S, E>,
    serve: impl FnOnce(S) -> Serve,
) -> anyhow::Result<()>
where
    E: Display,
    Serve: Future<Output = anyhow::Result<()>>,
{
    install_crypto_provider();
    let telemetry = bgjobs_telemetry::init(name).map_err(anyhow::Error::msg)?;
    telemetry
        .run(async {
            let settings = configure()
                .map_err(|error| anyhow::anyhow!("{error}"))
                .map_err(|error| error.context("reading the configuration"))?;
            serve(settings).await
        })
        .await
}
