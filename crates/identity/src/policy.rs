//! Which identities may call which gRPC method of a server, enforced by a tower layer
//! in front of every service the server hosts.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::http;

use crate::{Caller, Service};

/// The identities that may call one gRPC method.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The method's path, `/package.Service/Method`.
    pub path: &'static str,
    /// Who may call it.
    pub callers: &'static [Service],
}

/// A server's rules: a method without a rule may be called by no one.
#[derive(Debug)]
pub struct Policy {
    /// The service whose server this is (named in refusals).
    pub server: Service,
    /// One rule per method.
    pub rules: &'static [Rule],
}

impl Policy {
    /// The rule of the method at `path`.
    pub fn rule(&self, path: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.path == path)
    }

    /// Admits `caller` to the method at `path`, or says why not: `UNAUTHENTICATED`
    /// without a certificate naming a bgjobs identity, `PERMISSION_DENIED` for an
    /// identity the method does not allow.
    pub fn check(
        &self,
        path: &str,
        caller: Result<Option<Caller>, String>,
    ) -> Result<Caller, Status> {
        let server = self.server;
        let caller = match caller {
            Ok(Some(caller)) => caller,
            Ok(None) => return Err(Status::unauthenticated(no_certificate(server))),
            Err(problem) => return Err(Status::unauthenticated(format!("{server}: {problem}"))),
        };
        let Some(rule) = self.rule(path) else {
            return Err(Status::permission_denied(format!(
                "{path} is not a method {server} lets anyone call"
            )));
        };
        if rule.callers.contains(&caller.0) {
            return Ok(caller);
        }
        let allowed: Vec<&str> = rule.callers.iter().map(|service| service.name()).collect();
        Err(Status::permission_denied(format!(
            "{} may not call {path}; only {} may",
            caller.0,
            allowed.join(", ")
        )))
    }

    /// The paths of the methods this policy has a rule for: the server's methods.
    pub fn methods(&'static self) -> impl Iterator<Item = &'static str> {
        self.rules.iter().map(|rule| rule.path)
    }

    /// The layer that enforces this policy on a tonic server (`Server::builder().layer`).
    pub fn layer(&'static self) -> AuthorizeLayer {
        AuthorizeLayer { policy: self }
    }
}

/// Why a call without a client certificate is refused, by gRPC and HTTP servers alike.
pub(crate) fn no_certificate(server: Service) -> String {
    format!(
        "{server} accepts only calls from bgjobs services, each with a client certificate of \
         the bgjobs certificate authority; this call has none"
    )
}

/// Enforces a [`Policy`] in front of a server's services.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeLayer {
    policy: &'static Policy,
}

impl<S> tower::Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize { inner, policy: self.policy }
    }
}

/// A service behind [`AuthorizeLayer`]: an admitted request carries its [`Caller`] in
/// its extensions; a refused one gets the refusal's status and never reaches `inner`.
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    policy: &'static Policy,
}

type Answer<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, Body, ResponseBody> tower::Service<http::Request<Body>> for Authorize<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = Answer<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        match self.policy.check(&path, Caller::of(&request)) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Box::pin(self.inner.call(request))
            }
            Err(status) => {
                tracing_refusal(&path, &status);
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

fn tracing_refusal(path: &str, status: &Status) {
    tracing::warn!(method = path, code = ?status.code(), reason = status.message(), "call refused");
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    static POLICY: Policy = Policy {
        server: Service::JobsRegistry,
        rules: &[Rule {
            path: "/bgjobs.v1.JobsRegistry/MarkPublished",
            callers: &[Service::Ingest],
        }],
    };

    #[test]
    fn an_allowed_identity_is_admitted() {
        let caller = Ok(Some(Caller(Service::Ingest)));
        assert_eq!(
            POLICY.check("/bgjobs.v1.JobsRegistry/MarkPublished", caller).ok(),
            Some(Caller(Service::Ingest))
        );
    }

    #[test]
    fn another_identity_is_refused_naming_who_may_call() {
        let refused = POLICY
            .check("/bgjobs.v1.JobsRegistry/MarkPublished", Ok(Some(Caller(Service::Gateway))))
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(
            refused.message(),
            "gateway may not call /bgjobs.v1.JobsRegistry/MarkPublished; only ingest may"
        );
    }

    #[test]
    fn a_call_without_a_certificate_is_unauthenticated() {
        let refused = POLICY.check("/bgjobs.v1.JobsRegistry/MarkPublished", Ok(None)).unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }

    #[test]
    fn a_method_without_a_rule_is_refused_to_everyone() {
        for service in Service::ALL {
            let refused = POLICY
                .check("/bgjobs.v1.JobsRegistry/Other", Ok(Some(Caller(service))))
                .unwrap_err();
            assert_eq!(refused.code(), Code::PermissionDenied);
        }
    }
}
