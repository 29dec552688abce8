//! Who is calling. Every bgjobs service has an identity, [`Service`], carried in its
//! certificate as the URI `spiffe://bgjobs.internal/<service>` (the form cert-manager
//! and SPIFFE issuers write). Services talk to each other over mutual TLS with
//! certificates of one certificate authority ([`Credentials`]); a server reads the
//! caller's identity from its certificate ([`Caller`]) and a [`Policy`] says which
//! identities may call each of its gRPC methods ([`RoutePolicy`]: each route of an HTTP
//! API, served over the same mutual TLS). A call without a certificate of that
//! authority is refused with `UNAUTHENTICATED`, a call by an identity the method does
//! not allow with `PERMISSION_DENIED`, each with a message saying who may call.
//! Long-running services keep their credentials current ([`Credentials::reloading`]):
//! renewed certificate files are used for new connections without a restart.

mod caller;
mod credentials;
#[cfg(feature = "dev-pki")]
pub mod dev_pki;
mod grpc;
mod https;
mod material;
pub mod policies;
mod policy;
mod reload;
mod route_policy;
mod service;
mod tls;

pub use caller::Caller;
pub use credentials::{Credentials, Error, Tls};
pub use grpc::GrpcEndpoint;
pub use policy::{Policy, Rule};
pub use route_policy::{Access, Refusal, Route, RoutePolicy};
pub use service::Service;
