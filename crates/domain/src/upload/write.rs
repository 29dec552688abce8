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
    /// Create-only: the key exists, written last by another job, so the row was not
    /// written.
    AlreadyExists,
    /// Update-only: the key does not exist, so the row was not written.
    DoesNotExist,
    /// An earlier row of the same upload gave this key, so the row was not written.
    Duplicate {
        /// The 1-based row number of the key's first occurrence in the upload.
        first_row: u64,
    },
}

impl RowOutcome {
    /// The outcome column of the results file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::AlreadyExists | Self::DoesNotExist | Self::Duplicate { .. } => "rejected",
        }
    }

    /// True when the row was not written: refused by the write mode or a duplicate.
    pub fn is_refused(self) -> bool {
        matches!(self, Self::AlreadyExists | Self::DoesNotExist | Self::Duplicate { .. })
    }
}

/// Why a product row was refused (by the write mode or as a duplicate); `None` for a
/// written row.
pub fn product_refusal(sku: &str, outcome: RowOutcome) -> Option<String> {
    match outcome {
        RowOutcome::AlreadyExists => {
            Some(format!("sku: '{sku}' already exists; this upload only creates new products"))
        }
        RowOutcome::DoesNotExist => {
            Some(format!("sku: '{sku}' does not exist; this upload only updates existing products"))
        }
        RowOutcome::Duplicate { first_row } => {
            Some(format!("sku: '{sku}' appears again; it was first given in row {first_row}"))
        }
        RowOutcome::Created | RowOutcome::Updated | RowOutcome::Unchanged => None,
    }
}

/// Why a location row was refused (by the write mode or as a duplicate); `None` for a
/// written row.
pub fn location_refusal(warehouse: &str, code: &str, outcome: RowOutcome) -> Option<String> {
    match outcome {
        RowOutcome::AlreadyExists => Some(format!(
            "location_code: '{code}' of warehouse '{warehouse}' already exists; this upload only creates new locations"
        )),
        RowOutcome::DoesNotExist => Some(format!(
            "location_code: '{code}' of warehouse '{warehouse}' does not exist; this upload only updates existing locations"
        )),
        RowOutcome::Duplicate { first_row } => Some(format!(
            "location_code: '{code}' of warehouse '{warehouse}' appears again; it was first given in row {first_row}"
        )),
        RowOutcome::Created | RowOutcome::Updated | RowOutcome::Unchanged => None,
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
    fn product_refusals_name_the_sku_and_why() {
        let cases = [
            (
                RowOutcome::AlreadyExists,
                Some("sku: 'X' already exists; this upload only creates new products"),
            ),
            (
                RowOutcome::DoesNotExist,
                Some("sku: 'X' does not exist; this upload only updates existing products"),
            ),
            (
                RowOutcome::Duplicate { first_row: 7 },
                Some("sku: 'X' appears again; it was first given in row 7"),
            ),
            (RowOutcome::Created, None),
            (RowOutcome::Updated, None),
            (RowOutcome::Unchanged, None),
        ];
        for (outcome, expected) in cases {
            assert_eq!(product_refusal("X", outcome).as_deref(), expected, "{outcome:?}");
        }
    }

    #[test]
    fn location_refusals_name_the_code_the_warehouse_and_why() {
        let cases = [
            (
                RowOutcome::AlreadyExists,
                Some(
                    "location_code: 'A-1' of warehouse 'WH1' already exists; this upload only creates new locations",
                ),
            ),
            (
                RowOutcome::DoesNotExist,
                Some(
                    "location_code: 'A-1' of warehouse 'WH1' does not exist; this upload only updates existing locations",
                ),
            ),
            (
                RowOutcome::Duplicate { first_row: 1 },
                Some(
                    "location_code: 'A-1' of warehouse 'WH1' appears again; it was first given in row 1",
                ),
            ),
            (RowOutcome::Created, None),
            (RowOutcome::Updated, None),
            (RowOutcome::Unchanged, None),
        ];
        for (outcome, expected) in cases {
            assert_eq!(location_refusal("WH1", "A-1", outcome).as_deref(), expected, "{outcome:?}");
        }
    }

    #[test]
    fn refused_rows_are_rejected_in_the_results_and_written_rows_are_not() {
        let cases = [
            (RowOutcome::Created, "created", false),
            (RowOutcome::Updated, "updated", false),
            (RowOutcome::Unchanged, "unchanged", false),
            (RowOutcome::AlreadyExists, "rejected", true),
            (RowOutcome::DoesNotExist, "rejected", true),
            (RowOutcome::Duplicate { first_row: 3 }, "rejected", true),
        ];
        for (outcome, name, refused) in cases {
            assert_eq!((outcome.as_str(), outcome.is_refused()), (name, refused), "{outcome:?}");
        }
    }
}
