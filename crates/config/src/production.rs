//! The production profile: the same settings, but the local stack's built-in
//! credentials are refused, so a deployment that forgot one does not start.

use crate::{Environment, Error, Setting, Variable};

/// The variable that picks the profile.
pub const PROFILE_VARIABLE: &str = "BGJOBS_PROFILE";

/// How strict start-up is about credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Local development and tests: the built-in credentials of the local stack work.
    Development,
    /// A deployment: the built-in credentials stop start-up.
    Production,
}

impl Profile {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            _ => Err(String::new()),
        }
    }
}

impl Setting for Profile {
    fn allowed() -> String {
        "development or production".to_owned()
    }

    fn show(&self) -> String {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
        .to_owned()
    }
}

crate::deserialize_by_parse!(Profile);

crate::section! {
    /// Which profile the service starts in.
    pub struct ProfileSection {
        /// `production` refuses the local stack's built-in credentials (the broker's
        /// guest account, the object store's local key, Postgres without a password,
        /// demo users) and names each variable to set.
        "BGJOBS_PROFILE" => profile: Profile = "development";
    }
}

/// Refuses the built-in credentials among `variables`, naming all of them at once.
pub(crate) fn refuse_development_credentials(
    environment: &Environment<'_>,
    variables: &[&'static Variable],
) -> Result<(), Error> {
    let problems: Vec<String> = variables
        .iter()
        .filter_map(|variable| {
            let check = variable.development_credential?;
            let why = check(&environment.effective(variable).unwrap_or_default())?;
            Some(format!("set {} ({why})", variable.name))
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(Error::DevelopmentCredentials(problems)) }
}
