//! Declaring settings: [`Variable`], the [`Section`] trait and the [`section!`]
//! macro that writes both from one list.

use crate::{Environment, Error};

/// One environment variable, as declared in a [`section!`].
#[derive(Debug)]
pub struct Variable {
    /// Its name, e.g. `BGJOBS_BATCH_SIZE`.
    pub name: &'static str,
    /// One line saying what it does (the declaration's doc comment).
    pub doc: &'static str,
    /// The value it takes when unset or empty; `None` when it has none.
    pub default: Option<&'static str>,
    /// What values are allowed, in words.
    pub allowed: fn() -> String,
    /// Whether its value must never be printed.
    pub secret: bool,
    /// A value as it may be printed: secrets hidden, URL passwords replaced.
    pub redact: fn(&str) -> String,
    /// For a credential: why this value is the local stack's built-in one, which the
    /// production profile refuses.
    pub development_credential: Option<fn(&str) -> Option<&'static str>>,
}

/// A group of settings and the list of what it reads. Leaf sections come from
/// [`section!`]; a service's settings compose them ([`compose!`]).
pub trait Section: Sized {
    /// Every variable this section (and the sections inside it) reads.
    fn variables() -> Vec<&'static Variable>;

    /// Appends `NAME=value` pairs of the effective values, secrets redacted.
    fn show(&self, out: &mut Vec<(&'static str, String)>);
}

/// A section that loads from the environment alone (one that needs more, such as
/// the consumer runtime's, which needs the consumer's name, has its own loader).
pub trait Load: Section {
    /// Reads and checks every variable from `environment`.
    fn load(environment: &Environment<'_>) -> Result<Self, Error>;
}

/// The effective configuration of `settings` as `NAME=value` lines, secrets
/// redacted: what `--print-config` prints.
pub fn effective_values<S: Section>(settings: &S) -> String {
    let mut pairs = Vec::new();
    settings.show(&mut pairs);
    pairs.iter().map(|(name, value)| format!("{name}={value}\n")).collect()
}

/// Declares a section: a struct of typed settings, each bound to one variable with
/// its doc, type and optional default, and the [`Section`] that loads it.
///
/// ```
/// use bgjobs_config::values::Seconds;
/// use bgjobs_config::{Environment, Load};
///
/// bgjobs_config::section! {
///     /// How long work may go on after SIGTERM.
///     pub struct Shutdown {
///         /// Seconds that work in flight may take after SIGTERM.
///         "EXAMPLE_GRACE_SECS" => grace: Seconds<0, 3600> = "25";
///     }
/// }
///
/// let set = Environment::from_pairs([("EXAMPLE_GRACE_SECS", "5")]);
/// assert_eq!(Shutdown::load(&set).map(|s| s.grace.get().as_secs()), Ok(5));
/// let unset = Environment::from_pairs::<&str, &str>([]);
/// assert_eq!(Shutdown::load(&unset).map(|s| s.grace.get().as_secs()), Ok(25));
/// ```
///
/// A variable without default has an `Option` type (unset is `None`) or is
/// required. `, development_credential: path` names a check that recognises the
/// local stack's built-in credential in a value.
#[macro_export]
macro_rules! section {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $variable:literal => $field:ident: $type:ty
                    $(= $default:literal)?
                    $(, development_credential: $check:path)?;
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, $crate::__private::serde::Deserialize)]
        #[serde(crate = "bgjobs_config::__private::serde")]
        $vis struct $name {
            $(
                $(#[doc = $doc])+
                #[serde(rename = $variable)]
                pub $field: $type,
            )+
        }

        impl $crate::Section for $name {
            fn variables() -> ::std::vec::Vec<&'static $crate::Variable> {
                static VARIABLES: &[$crate::Variable] = &[$(
                    $crate::Variable {
                        name: $variable,
                        doc: concat!($($doc),+),
                        default: $crate::__optional!($($default)?),
                        allowed: <$type as $crate::Setting>::allowed,
                        secret: <$type as $crate::Setting>::SECRET,
                        redact: <$type as $crate::Setting>::redact,
                        development_credential: $crate::__check!($($check)?),
                    },
                )+];
                VARIABLES.iter().collect()
            }

            fn show(&self, out: &mut ::std::vec::Vec<(&'static str, ::std::string::String)>) {
                $(out.push(($variable, $crate::Setting::show(&self.$field)));)+
            }
        }

        impl $crate::Load for $name {
            fn load(environment: &$crate::Environment<'_>) -> ::std::result::Result<Self, $crate::Error> {
                environment.extract(&<Self as $crate::Section>::variables())
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __optional {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __check {
    () => {
        None
    };
    ($check:path) => {
        Some($check as fn(&str) -> Option<&'static str>)
    };
}

/// Declares settings made of sections, loaded one after the other; each field is a
/// [`Section`] (a [`section!`] or another composition).
#[macro_export]
macro_rules! compose {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident: $type:ty,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis struct $name {
            $(
                $(#[doc = $doc])+
                pub $field: $type,
            )+
        }

        impl $crate::Section for $name {
            fn variables() -> ::std::vec::Vec<&'static $crate::Variable> {
                let mut all = ::std::vec::Vec::new();
                $($crate::add_variables(&mut all, <$type as $crate::Section>::variables());)+
                all
            }

            fn show(&self, out: &mut ::std::vec::Vec<(&'static str, ::std::string::String)>) {
                $($crate::Section::show(&self.$field, out);)+
            }
        }

        impl $crate::Load for $name {
            fn load(environment: &$crate::Environment<'_>) -> ::std::result::Result<Self, $crate::Error> {
                Ok(Self { $($field: <$type as $crate::Load>::load(environment)?,)+ })
            }
        }
    };
}

/// Implements [`Section`] for settings resolved from a composition: the variables
/// and effective values are those of the composition kept in field `$field`.
#[macro_export]
macro_rules! resolved_from {
    ($type:ty, $field:ident: $sections:ty) => {
        impl $crate::Section for $type {
            fn variables() -> ::std::vec::Vec<&'static $crate::Variable> {
                <$sections as $crate::Section>::variables()
            }

            fn show(&self, out: &mut ::std::vec::Vec<(&'static str, ::std::string::String)>) {
                $crate::Section::show(&self.$field, out);
            }
        }
    };
}

/// Appends to `all` those of `more` it does not hold yet: a variable shared by two
/// sections of one service is listed once.
pub fn add_variables(all: &mut Vec<&'static Variable>, more: Vec<&'static Variable>) {
    for variable in more {
        if !all.iter().any(|known| std::ptr::eq(*known, variable)) {
            all.push(variable);
        }
    }
}
