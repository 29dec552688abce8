//! How every bgjobs process starts and stops, in one place: the process-wide TLS
//! crypto provider, telemetry, the configuration read once, the service run until
//! SIGTERM or Ctrl-C, and the last spans flushed. A service's `main` is one call to
//! [`run`]. Its servers keep the bounds of [`Limits`] ([`http`], [`grpc`]); its probes
//! and metrics are served by [`ops`].

pub mod grpc;
pub mod http;
mod limits;
pub mod ops;

use std::future::Future;

use bgjobs_config::{Environment, Load, Section};

pub use limits::{Limits, ServerLimits};

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

/// Runs the service `name`: installs the crypto provider, reads the configuration
/// with `configure` from the process environment (a bad value, or a built-in
/// credential under `BGJOBS_PROFILE=production`, stops start-up with its message),
/// prints it and exits when the process was started with `--print-config`, sets up
/// telemetry (logs, and spans exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set),
/// then runs `serve` with it to its end and flushes the last spans. `serve` stops on
/// [`shutdown_signal`].
pub async fn run<S, Serve>(
    name: &'static str,
    configure: impl FnOnce(&Environment) -> Result<S, bgjobs_config::Error>,
    serve: impl FnOnce(S) -> Serve,
) -> anyhow::Result<()>
where
    S: Section,
    Serve: Future<Output = anyhow::Result<()>>,
{
    install_crypto_provider();
    let environment = Environment::process();
    let configured = configure(&environment).and_then(|settings| {
        if std::env::args().skip(1).any(|argument| argument == PRINT_CONFIG) {
            print!("{}", bgjobs_config::effective_values(&settings));
            return Ok(None);
        }
        bgjobs_config::check_profile::<S>(&environment)?;
        Ok(Some(settings))
    });
    let settings = match configured {
        Ok(Some(settings)) => settings,
        Ok(None) => return Ok(()),
        Err(error) => anyhow::bail!("{name} cannot start: {error}"),
    };
    let telemetry_settings = bgjobs_telemetry::Settings::load(&environment)
        .map_err(|error| anyhow::anyhow!("{name} cannot start: {error}"))?;
    let telemetry =
        bgjobs_telemetry::init(name, &telemetry_settings).map_err(anyhow::Error::msg)?;
    telemetry.run(serve(settings)).await
}

/// The argument that makes a service print its effective configuration, secrets
/// redacted, and exit.
pub const PRINT_CONFIG: &str = "--print-config";
