//! Who may call each gRPC method and HTTP route of bgjobs' servers: one table per
//! server, enforced by [`Policy::layer`] (gRPC) and ingest's `authorize` (HTTP), and
//! read by the authorization tests.

use crate::{Access, Policy, Route, RoutePolicy, Rule, Service};

use Service::{Gateway, Ingest, JobsRegistry, Jobsctl, Notifier};

/// Every identity: for health checks.
const ANYONE: &[Service] = &Service::ALL;

/// The registry's methods.
pub static REGISTRY: Policy = Policy {
    server: JobsRegistry,
    rules: &[
        // Jobs are registered by ingest, which stores their input.
        Rule { path: "/bgjobs.v1.JobsRegistry/CreateJob", callers: &[Ingest] },
        Rule { path: "/bgjobs.v1.JobsRegistry/GetJob", callers: &[Gateway, Notifier, Jobsctl] },
        Rule { path: "/bgjobs.v1.JobsRegistry/ListJobs", callers: &[Gateway, Jobsctl] },
        Rule { path: "/bgjobs.v1.JobsRegistry/ListJobEvents", callers: &[Gateway, Jobsctl] },
        // A retry is asked of ingest, which checks the input is still there.
        Rule { path: "/bgjobs.v1.JobsRegistry/RetryJob", callers: &[Ingest] },
        // Publishing is ingest's; jobsctl marks what it replays.
        Rule { path: "/bgjobs.v1.JobsRegistry/MarkPublished", callers: &[Ingest, Jobsctl] },
        Rule { path: "/bgjobs.v1.JobsRegistry/ListUnpublishedJobs", callers: &[Ingest] },
        Rule { path: "/bgjobs.v1.JobsRegistry/ListUnstartedJobs", callers: &[Ingest] },
        Rule { path: "/bgjobs.v1.JobsRegistry/FailDeadLettered", callers: &[Ingest] },
        Rule { path: "/bgjobs.v1.JobsRegistry/AddJobNote", callers: &[Ingest, Notifier] },
        Rule { path: "/bgjobs.v1.JobsRegistry/ReplayDeadLetter", callers: &[Jobsctl] },
        Rule { path: "/bgjobs.v1.JobsRegistry/WatchJobs", callers: &[Gateway] },
        Rule { path: "/grpc.health.v1.Health/Check", callers: ANYONE },
        Rule { path: "/grpc.health.v1.Health/Watch", callers: ANYONE },
        Rule { path: REFLECTION, callers: &[Jobsctl] },
    ],
};

/// Ingest's gRPC methods.
pub static INGEST: Policy = Policy {
    server: Ingest,
    rules: &[
        Rule { path: "/bgjobs.v1.Ingest/RetryJob", callers: &[Jobsctl, Gateway] },
        Rule { path: "/grpc.health.v1.Health/Check", callers: ANYONE },
        Rule { path: "/grpc.health.v1.Health/Watch", callers: ANYONE },
        Rule { path: REFLECTION, callers: &[Jobsctl] },
    ],
};

/// Ingest's HTTP routes. A job is started only on behalf of a user, whose bearer token
/// the route verifies (the gateway forwards the signed-in user's own; a user may call
/// directly where ingest is exposed): no service identity starts jobs by itself.
/// Health probes are open, as a kubelet probes without a certificate.
pub static INGEST_HTTP: RoutePolicy = RoutePolicy {
    server: Ingest,
    routes: &[
        Route {
            method: "POST",
            path: "/v1/accounts/{account_id}/jobs/product-upload",
            access: Access::User,
        },
        Route {
            method: "POST",
            path: "/v1/accounts/{account_id}/jobs/warehouse-upload",
            access: Access::User,
        },
        Route {
            method: "POST",
            path: "/v1/accounts/{account_id}/jobs/delete-client",
            access: Access::User,
        },
        Route { method: "GET", path: "/healthz", access: Access::Anyone },
        Route { method: "GET", path: "/readyz", access: Access::Anyone },
    ],
};

/// The method of gRPC server reflection (`grpcurl` lists and describes methods with it).
const REFLECTION: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
