//! Every bgjobs setting, declared once.
//!
//! A setting is an environment variable with a name, a type, a default, a one-line
//! doc and whether it is a secret. Settings are grouped in sections ([`section!`])
//! that services compose: the shared ones (database, broker, events, object store,
//! telemetry) live beside the code that uses them, a service's own in its
//! `settings.rs`. The same declarations load the values (with figment, from an
//! injected or the process [`Environment`]), name the variable, the redacted value
//! and what is allowed when a value is bad, print the effective configuration
//! (`--print-config`) and generate `docs/configuration.md`.

// The macros name this crate by its name, which serde's `crate` attribute needs.
extern crate self as bgjobs_config;

mod environment;
mod production;
pub mod reference;
mod section;
pub mod sections;
pub mod values;

pub use environment::{Environment, Error};
pub use production::{Profile, ProfileSection};
pub use section::{Load, Section, Variable, add_variables, effective_values};
pub use values::Setting;

#[doc(hidden)]
pub mod __private {
    pub use serde;
}

/// When `BGJOBS_PROFILE` is `production`, refuses the local stack's built-in
/// credentials among the variables `S` reads, naming every one to set.
pub fn check_profile<S: Section>(environment: &Environment<'_>) -> Result<(), Error> {
    let profile = ProfileSection::load(environment)?;
    if profile.profile == Profile::Production {
        production::refuse_development_credentials(environment, &S::variables())?;
    }
    Ok(())
}
