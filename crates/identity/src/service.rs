//! The identities of bgjobs' services.

use std::fmt;

/// The trust domain of every bgjobs identity.
pub const TRUST_DOMAIN: &str = "bgjobs.internal";

/// A bgjobs service (or tool) as it identifies itself to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Stores uploads and registers and publishes jobs.
    Ingest,
    /// Serves the page and its API to users.
    Gateway,
    /// Records every job's state.
    JobsRegistry,
    /// Emails users when their upload finished.
    Notifier,
    /// The operators' command line (dead letters, replays).
    Jobsctl,
    /// The product-upload consumer.
    ProductUpload,
    /// The warehouse-upload consumer.
    WarehouseUpload,
    /// The delete-client consumer.
    DeleteClient,
}

impl Service {
    /// Every identity, in a fixed order.
    pub const ALL: [Service; 8] = [
        Service::Ingest,
        Service::Gateway,
        Service::JobsRegistry,
        Service::Notifier,
        Service::Jobsctl,
        Service::ProductUpload,
        Service::WarehouseUpload,
        Service::DeleteClient,
    ];

    /// The service's name, as its binary and deployment are named.
    pub fn name(self) -> &'static str {
        match self {
            Service::Ingest => "ingest",
            Service::Gateway => "gateway",
            Service::JobsRegistry => "jobs-registry",
            Service::Notifier => "notifier",
            Service::Jobsctl => "jobsctl",
            Service::ProductUpload => "product-upload",
            Service::WarehouseUpload => "warehouse-upload",
            Service::DeleteClient => "delete-client",
        }
    }

    /// The URI its certificate carries as a subject alternative name.
    pub fn uri(self) -> String {
        format!("spiffe://{TRUST_DOMAIN}/{}", self.name())
    }

    /// The DNS name its certificate carries when it serves: clients check the server
    /// against this name whatever address they dial.
    pub fn server_name(self) -> String {
        format!("{}.{TRUST_DOMAIN}", self.name())
    }

    /// The service whose certificate carries `uri`, if any.
    pub fn from_uri(uri: &str) -> Option<Service> {
        let name = uri.strip_prefix("spiffe://")?.strip_prefix(TRUST_DOMAIN)?.strip_prefix('/')?;
        Service::ALL.into_iter().find(|service| service.name() == name)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_is_read_back_from_its_uri() {
        for service in Service::ALL {
            assert_eq!(Service::from_uri(&service.uri()), Some(service));
        }
    }

    #[test]
    fn uris_of_another_trust_domain_or_unknown_services_are_no_identity() {
        assert_eq!(Service::from_uri("spiffe://example.org/ingest"), None);
        assert_eq!(Service::from_uri("spiffe://bgjobs.internal/intruder"), None);
        assert_eq!(Service::from_uri("spiffe://bgjobs.internal.evil/ingest"), None);
        assert_eq!(Service::from_uri("spiffe://bgjobs.internal/ingest/extra"), None);
        assert_eq!(Service::from_uri("https://bgjobs.internal/ingest"), None);
    }
}
