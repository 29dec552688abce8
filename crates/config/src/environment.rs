//! Where values come from (the process environment, or an injected one in tests),
//! and the one error a bad value produces.

use std::collections::BTreeMap;
use std::fmt;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::de::DeserializeOwned;

use crate::Variable;

/// The variables a process was started with. A value is trimmed, and an empty one
/// counts as unset, so `BGJOBS_X=` takes the default in every service alike.
pub struct Environment<'a> {
    get: Lookup<'a>,
}

/// Answers a variable's name with its value, if set.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl<'a> Environment<'a> {
    /// The process environment.
    pub fn process() -> Environment<'static> {
        Environment::from_lookup(|name| std::env::var(name).ok())
    }

    /// Values from `get`, which answers a variable's name with its value if set.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { get: Box::new(get) }
    }

    /// Exactly these values, as tests inject them.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Environment<'static> {
        let values: BTreeMap<String, String> =
            pairs.into_iter().map(|(name, value)| (name.into(), value.into())).collect();
        Environment::from_lookup(move |name| values.get(name).cloned())
    }

    /// The value of `name`, trimmed; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.get)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// The value `variable` has here, or its default.
    pub fn effective(&self, variable: &Variable) -> Option<String> {
        self.get(variable.name).or_else(|| variable.default.map(str::to_owned))
    }

    /// Deserializes `T` from `variables`: the defaults, overridden by the values set
    /// here. A bad value becomes an [`Error`] naming its variable.
    pub fn extract<T: DeserializeOwned>(
        &self,
        variables: &[&'static Variable],
    ) -> Result<T, Error> {
        Figment::new()
            .merge(Defaults(variables))
            .merge(Values { environment: self, variables })
            .extract()
            .map_err(|error| self.explain(&error, variables))
    }

    fn explain(&self, error: &figment::Error, variables: &[&'static Variable]) -> Error {
        let named = |name: &str| variables.iter().copied().find(|variable| variable.name == name);
        if let figment::error::Kind::MissingField(name) = &error.kind
            && let Some(variable) = named(name)
        {
            return Error::Missing { variable: variable.name, allowed: (variable.allowed)() };
        }
        let Some(variable) = error.path.last().and_then(|name| named(name)) else {
            return Error::Rule { variable: "configuration", problem: error.to_string() };
        };
        let value = self.effective(variable).unwrap_or_default();
        let detail = match &error.kind {
            figment::error::Kind::Message(detail) if !detail.is_empty() => Some(detail.clone()),
            _ => None,
        };
        Error::Invalid {
            variable: variable.name,
            value: (variable.redact)(&value),
            detail,
            allowed: (variable.allowed)(),
        }
    }
}

/// The declared defaults, as figment's first layer.
struct Defaults<'a>(&'a [&'static Variable]);

impl Provider for Defaults<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named("built-in defaults")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = self
            .0
            .iter()
            .filter_map(|variable| Some((variable.name.to_owned(), Value::from(variable.default?))))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// The declared variables that are set, as text: no guessing of numbers or lists,
/// so a password such as `00123` or `[x]` stays what it is.
struct Values<'a> {
    environment: &'a Environment<'a>,
    variables: &'a [&'static Variable],
}

impl Provider for Values<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = self
            .variables
            .iter()
            .filter_map(|variable| {
                Some((variable.name.to_owned(), Value::from(self.environment.get(variable.name)?)))
            })
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// Why a service refuses to start: one message naming the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value that is not allowed; `value` is redacted when the variable is secret.
    Invalid {
        /// The variable at fault.
        variable: &'static str,
        /// Its value as it may be shown.
        value: String,
        /// What exactly is wrong, when more can be said than `allowed`.
        detail: Option<String>,
        /// What values are allowed.
        allowed: String,
    },
    /// A variable without a default that is not set.
    Missing {
        /// The variable to set.
        variable: &'static str,
        /// What values are allowed.
        allowed: String,
    },
    /// A rule between variables, or a value that cannot be used for a reason beyond
    /// its shape (a key file that cannot be read).
    Rule {
        /// The variable to change.
        variable: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The production profile found the local stack's credentials.
    DevelopmentCredentials(Vec<String>),
}

impl Error {
    /// The variable to change (the first, when several are).
    pub fn variable(&self) -> &str {
        match self {
            Self::Invalid { variable, .. }
            | Self::Missing { variable, .. }
            | Self::Rule { variable, .. } => variable,
            Self::DevelopmentCredentials(_) => crate::production::PROFILE_VARIABLE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { variable, value, detail, allowed } => {
                write!(f, "{variable}='{value}' is not allowed")?;
                if let Some(detail) = detail {
                    write!(f, " ({detail})")?;
                }
                write!(f, ": expected {allowed}")
            }
            Self::Missing { variable, allowed } => {
                write!(f, "{variable} is not set: expected {allowed}")
            }
            Self::Rule { variable, problem } => write!(f, "{variable}: {problem}"),
            Self::DevelopmentCredentials(problems) => write!(
                f,
                "BGJOBS_PROFILE=production refuses the local stack's built-in credentials: {}",
                problems.join("; ")
            ),
        }
    }
}
