//! The broker users of the local stack: one RabbitMQ user and one NATS user per service
//! (deploy/rabbitmq-users.json, deploy/nats-local.conf; docs/security.md, "Brokers").
//!
//! The harness itself (its helpers that publish, inspect and tear down) signs in as the
//! admin of each broker; every service it starts signs in as its own user, with the
//! local-only password those files give it.

use bgjobs_identity::Service;

/// RabbitMQ's admin on the local stack (and on the fault tests' private brokers).
pub const AMQP_ADMIN_USER: &str = "guest";

/// The local stack's RabbitMQ, as its admin.
pub const AMQP_ADMIN_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The admin of bgjobs' NATS server (deploy/nats-local.conf).
pub const NATS_ADMIN_USER: &str = "bgjobs-admin";

/// bgjobs' NATS server of the local stack (deploy/stack.sh, port 4223), as its admin.
pub const NATS_ADMIN_URL: &str = "nats://bgjobs-admin:admin-local-only@127.0.0.1:4223";

/// The services that have a RabbitMQ user: those that talk to RabbitMQ.
pub const AMQP_SERVICES: [Service; 5] = [
    Service::Ingest,
    Service::ProductUpload,
    Service::WarehouseUpload,
    Service::DeleteClient,
    Service::Jobsctl,
];

/// The services that have a NATS user: those that talk to NATS.
pub const NATS_SERVICES: [Service; 5] = [
    Service::ProductUpload,
    Service::WarehouseUpload,
    Service::DeleteClient,
    Service::JobsRegistry,
    Service::Notifier,
];

/// The user name of `service` on either broker: `bgjobs-<service>`.
pub fn user(service: Service) -> String {
    format!("bgjobs-{}", service.name())
}

/// The local-only password of `service` on either broker: `<service>-local-only`.
pub fn password(service: Service) -> String {
    format!("{}-local-only", service.name())
}

/// `url` signing in as `user`:`password` instead of whoever it names.
pub fn with_login(url: &str, user: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host_and_rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}://{user}:{password}@{host_and_rest}")
}

/// The user `url` signs in as, if any.
fn login_user(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo.split_once(':').map_or(userinfo, |(user, _)| user))
}

/// The broker variables of `service` on the local stack, signing in as its own users:
/// `BGJOBS_AMQP_URL` when it talks to RabbitMQ, `BGJOBS_NATS_URL` (bgjobs' NATS server)
/// when it talks to NATS. For a service a test builds from its own settings.
pub fn stack_env(service: Service) -> Vec<(&'static str, String)> {
    let admin = |name: &str| match name {
        "BGJOBS_AMQP_URL" => Some(AMQP_ADMIN_URL.to_owned()),
        "BGJOBS_NATS_URL" => Some(NATS_ADMIN_URL.to_owned()),
        _ => None,
    };
    service_urls(admin, service)
}

/// The broker variables `service` runs with, from the harness's (`lookup`): each URL
/// that signs in as the broker's admin is made to sign in as the service's own user.
/// A URL naming another user (a test's own, such as the secrets test's) is left alone,
/// and so is a broker the service does not talk to.
pub fn service_urls(
    lookup: impl Fn(&str) -> Option<String>,
    service: Service,
) -> Vec<(&'static str, String)> {
    let mut urls = Vec::new();
    let brokers = [
        ("BGJOBS_AMQP_URL", AMQP_ADMIN_USER, AMQP_SERVICES.contains(&service)),
        ("BGJOBS_NATS_URL", NATS_ADMIN_USER, NATS_SERVICES.contains(&service)),
    ];
    for (variable, admin, has_user) in brokers {
        let Some(url) = lookup(variable) else { continue };
        if has_user && login_user(&url) == Some(admin) {
            urls.push((variable, with_login(&url, &user(service), &password(service))));
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_url_signs_in_as_the_service_instead() {
        let lookup = |name: &str| match name {
            "BGJOBS_AMQP_URL" => Some("amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
            "BGJOBS_NATS_URL" => Some(NATS_ADMIN_URL.to_owned()),
            _ => None,
        };
        assert_eq!(
            service_urls(lookup, Service::ProductUpload),
            [
                (
                    "BGJOBS_AMQP_URL",
                    "amqp://bgjobs-product-upload:product-upload-local-only@127.0.0.1:5672/%2f"
                        .to_owned()
                ),
                (
                    "BGJOBS_NATS_URL",
                    "nats://bgjobs-product-upload:product-upload-local-only@127.0.0.1:4223"
                        .to_owned()
                ),
            ]
        );
        assert_eq!(
            service_urls(lookup, Service::JobsRegistry),
            [(
                "BGJOBS_NATS_URL",
                "nats://bgjobs-jobs-registry:jobs-registry-local-only@127.0.0.1:4223".to_owned()
            )]
        );
    }

    #[test]
    fn the_stack_s_variables_of_a_service_name_only_its_brokers() {
        assert_eq!(
            stack_env(Service::Jobsctl),
            [(
                "BGJOBS_AMQP_URL",
                "amqp://bgjobs-jobsctl:jobsctl-local-only@127.0.0.1:5672/%2f".to_owned()
            )]
        );
        assert_eq!(stack_env(Service::Gateway), []);
    }

    #[test]
    fn a_url_of_another_user_is_left_alone() {
        let lookup = |name: &str| match name {
            "BGJOBS_AMQP_URL" => Some("amqp://bgjobs-log-probe:x@127.0.0.1:5672/%2f".to_owned()),
            "BGJOBS_NATS_URL" => Some("nats://127.0.0.1:4222".to_owned()),
            _ => None,
        };
        assert_eq!(service_urls(lookup, Service::ProductUpload), []);
    }
}
