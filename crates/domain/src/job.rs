//! Job types and statuses, with the names used on the wire, in queues and on the page.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of background job (docs/architecture.md, "What the user sees").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobType {
    /// Imports a product catalogue for one client.
    ProductUpload,
    /// Imports warehouse locations.
    WarehouseUpload,
    /// Deletes all data of one of the account's clients.
    DeleteClient,
}

impl JobType {
    /// Every job type, in display order.
    pub const ALL: [JobType; 3] = [Self::ProductUpload, Self::WarehouseUpload, Self::DeleteClient];

    /// The machine name: RabbitMQ routing key, queue suffix, database value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductUpload => "product-upload",
            Self::WarehouseUpload => "warehouse-upload",
            Self::DeleteClient => "delete-client",
        }
    }

    /// The name shown to users.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::ProductUpload => "Product Upload",
            Self::WarehouseUpload => "Warehouse Upload",
            Self::DeleteClient => "Delete Client",
        }
    }
}

/// Why a text is not a job type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job type '{0}'; expected product-upload, warehouse-upload or delete-client")]
pub struct UnknownJobType(String);

impl FromStr for JobType {
    type Err = UnknownJobType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|job_type| job_type.as_str() == text)
            .ok_or_else(|| UnknownJobType(text.to_owned()))
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job stands (docs/architecture.md, "Job state machine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Created and queued, not started.
    New,
    /// A worker is processing it.
    InProgress,
    /// Finished; final.
    Completed,
    /// Failed; can be retried.
    Error,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 4] = [Self::New, Self::InProgress, Self::Completed, Self::Error];

    /// The machine name, as stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Error => "error",
        }
    }

    /// The name shown to users.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::InProgress => "In Progress",
            Self::Completed => "Completed",
            Self::Error => "Error",
        }
    }

    /// True when no event can change the job any more (Retry aside).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Error)
    }
}

/// Why a text is not a job status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status '{0}'; expected new, in_progress, completed or error")]
pub struct UnknownJobStatus(String);

impl FromStr for JobStatus {
    type Err = UnknownJobStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownJobStatus(text.to_owned()))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_round_trip() {
        for job_type in JobType::ALL {
            assert_eq!(job_type.as_str().parse::<JobType>(), Ok(job_type));
        }
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_expected_values() {
        let error = "upload".parse::<JobType>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown job type 'upload'; expected product-upload, warehouse-upload or delete-client"
        );
    }
}
