//! Conversions between the wire enums and timestamps and the domain types.

use bgjobs_domain::{EventKind, JobStatus, JobType};
use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::v1;

/// The wire value of a job type.
pub fn job_type_to_proto(job_type: JobType) -> v1::JobType {
    match job_type {
        JobType::ProductUpload => v1::JobType::ProductUpload,
        JobType::WarehouseUpload => v1::JobType::WarehouseUpload,
        JobType::DeleteClient => v1::JobType::DeleteClient,
    }
}

/// The domain job type of a wire value; `None` for unspecified or unknown values.
pub fn job_type_from_proto(value: i32) -> Option<JobType> {
    match v1::JobType::try_from(value).ok()? {
        v1::JobType::Unspecified => None,
        v1::JobType::ProductUpload => Some(JobType::ProductUpload),
        v1::JobType::WarehouseUpload => Some(JobType::WarehouseUpload),
        v1::JobType::DeleteClient => Some(JobType::DeleteClient),
    }
}

/// The wire value of a job status.
pub fn job_status_to_proto(status: JobStatus) -> v1::JobStatus {
    match status {
        JobStatus::New => v1::JobStatus::New,
        JobStatus::InProgress => v1::JobStatus::InProgress,
        JobStatus::Completed => v1::JobStatus::Completed,
        JobStatus::Error => v1::JobStatus::Error,
    }
}

/// The domain status of a wire value; `None` for unspecified or unknown values.
pub fn job_status_from_proto(value: i32) -> Option<JobStatus> {
    match v1::JobStatus::try_from(value).ok()? {
        v1::JobStatus::Unspecified => None,
        v1::JobStatus::New => Some(JobStatus::New),
        v1::JobStatus::InProgress => Some(JobStatus::InProgress),
        v1::JobStatus::Completed => Some(JobStatus::Completed),
        v1::JobStatus::Error => Some(JobStatus::Error),
    }
}

/// The wire value of an event kind.
pub fn event_kind_to_proto(kind: EventKind) -> v1::EventKind {
    match kind {
        EventKind::Started => v1::EventKind::Started,
        EventKind::Progress => v1::EventKind::Progress,
        EventKind::Log => v1::EventKind::Log,
        EventKind::Completed => v1::EventKind::Completed,
        EventKind::Failed => v1::EventKind::Failed,
    }
}

/// The domain event kind of a wire value; `None` for unspecified or unknown values.
pub fn event_kind_from_proto(value: i32) -> Option<EventKind> {
    match v1::EventKind::try_from(value).ok()? {
        v1::EventKind::Unspecified => None,
        v1::EventKind::Started => Some(EventKind::Started),
        v1::EventKind::Progress => Some(EventKind::Progress),
        v1::EventKind::Log => Some(EventKind::Log),
        v1::EventKind::Completed => Some(EventKind::Completed),
        v1::EventKind::Failed => Some(EventKind::Failed),
    }
}

/// A UTC time as a protobuf timestamp.
pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

/// A protobuf timestamp as UTC time; `None` when out of chrono's range or negative nanos.
pub fn from_timestamp(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_unspecified_is_none() {
        for job_type in JobType::ALL {
            assert_eq!(job_type_from_proto(job_type_to_proto(job_type) as i32), Some(job_type));
        }
        for status in JobStatus::ALL {
            assert_eq!(job_status_from_proto(job_status_to_proto(status) as i32), Some(status));
        }
        assert_eq!(job_type_from_proto(0), None);
        assert_eq!(job_status_from_proto(99), None);
        assert_eq!(event_kind_from_proto(0), None);
    }

    #[test]
    fn timestamps_round_trip() {
        let now = Utc::now();
        assert_eq!(from_timestamp(&timestamp(now)), Some(now));
        assert_eq!(from_timestamp(&Timestamp { seconds: 0, nanos: -1 }), None);
    }
}
