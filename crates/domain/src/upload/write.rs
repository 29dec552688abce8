//! What an upload may do to existing records: create and update them (the default),
//! only create new ones, or only update existing ones.

use std::fmt;

/// Which rows an upload may write, by whether their key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// New keys are created, existing ones updated.
    #[default]
    CreateOrUpdate,
    /// New keys are created; a row whose key exists is rejected.
    CreateOnly,
    /// Existing keys are updated; a row whose key does not exist is rejected.
    UpdateOnly,
}

impl WriteMode {
    /// Every mode, in the order they are listed to users.
    pub const ALL: [Self; 3] = [Self::CreateOrUpdate, Self::CreateOnly, Self::UpdateOnly];

    /// The name used in the query string and in the job's parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateOrUpdate => "create-or-update",
            Self::CreateOnly => "create-only",
            Self::UpdateOnly => "update-only",
        }
    }

    /// The mode named `name` (exactly as [`WriteMode::as_str`] gives it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == name)
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a batch write did with one valid row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOutcome {
    /// The key was new and the record was created.
    Created,
    /// The record existed with other values and was changed.
    Updated,
    /// The record already had exactly these values.
    Unchanged,
    /// Create-only: the key exists, so the row was not written.
    AlreadyExists,
    /// Update-only: the key does not exist, so the row was not written.
    DoesNotExist,
}

impl RowOutcome {
    /// The outcome column of the results file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::AlreadyExists | Self::DoesNotExist => "rejected",
        }
    }

    /// True when the write mode refused the row.
    pub fn is_refused(self) -> bool {
        matches!(self, Self::AlreadyExists | Self::DoesNotExist)
    }
}

/// Why a product row was refused by the write mode; `None` for a written row.
pub fn product_refusal(sku: &str, outcome: RowOutcome) -> Option<String> {
    match outcome {
        RowOutcome::AlreadyExists => {
            Some(format!("sku: '{sku}' already exists; this upload only creates new products"))
        }
        RowOutcome::DoesNotExist => {
            Some(format!("sku: '{sku}' does not exist; this upload only updates existing products"))
        }
        _ => None,
    }
}

/// Why a location row was refused by the write mode; `None` for a written row.
pub fn location_refusal(warehouse: &str, code: &str, outcome: RowOutcome) -> Option<String> {
    match outcome {
        RowOutcome::AlreadyExists => Some(format!(
            "location_code: '{code}' of warehouse '{warehouse}' already exists; this upload only creates new locations"
        )),
        RowOutcome::DoesNotExist => Some(format!(
            "location_code: '{code}' of warehouse '{warehouse}' does not exist; this upload only updates existing locations"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_their_names_only() {
        for mode in WriteMode::ALL {
            assert_eq!(WriteMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(WriteMode::parse("create"), None);
        assert_eq!(WriteMode::default(), WriteMode::CreateOrUpdate);
    }

    #[test]
    fn refusals_name_the_key_and_the_mode() {
        assert_eq!(
            product_refusal("X", RowOutcome::AlreadyExists).as_deref(),
            Some("sku: 'X' already exists; this upload only creates new products")
        );
        assert_eq!(
            product_refusal("X", RowOutcome::DoesNotExist).as_deref(),
            Some("sku: 'X' does not exist; this upload only updates existing products")
        );
        assert_eq!(product_refusal("X", RowOutcome::Created), None);
        assert_eq!(RowOutcome::DoesNotExist.as_str(), "rejected");
    }
}
