//! Which identities may call which route of an HTTP API. The server enforces it (see
//! ingest's `authorize`); the authorization tests read the same table.

use crate::{Caller, Service};

/// Who may call one HTTP route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with or without a certificate: health probes, which a kubelet sends
    /// without one.
    Anyone,
    /// Only these identities, each with a certificate of the authority.
    Only(&'static [Service]),
    /// Any connection, with or without a certificate, on behalf of a user: the
    /// request must carry that user's bearer token, which the route verifies (who
    /// the user is and their account come from it, whoever forwards it).
    User,
}

/// The identities that may call one route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The method, `GET` or `POST`.
    pub method: &'static str,
    /// The route as the server declares it, e.g. `/v1/accounts/{account_id}/jobs/delete-client`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// An HTTP API's routes: a route without an entry may be called by no one.
#[derive(Debug)]
pub struct RoutePolicy {
    /// The service whose API this is (named in refusals).
    pub server: Service,
    /// One entry per route.
    pub routes: &'static [Route],
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No certificate naming one bgjobs identity (HTTP 401).
    Unauthenticated(String),
    /// An identity the route does not allow (HTTP 403).
    Forbidden(String),
}

impl RoutePolicy {
    /// The entry of the route `path` (as declared) for `method`. HEAD is answered as
    /// GET without the body, so it has GET's entry.
    pub fn route(&self, method: &str, path: &str) -> Option<&Route> {
        let method = if method == "HEAD" { "GET" } else { method };
        self.routes.iter().find(|route| route.method == method && route.path == path)
    }

    /// Admits `caller` to the route, or says why not; `Ok(None)` is an anonymous caller
    /// of a route anyone may call.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        caller: Result<Option<Caller>, String>,
    ) -> Result<Option<Caller>, Refusal> {
        let server = self.server;
        let route = self.route(method, path);
        if let Some(Route { access: Access::Anyone | Access::User, .. }) = route {
            // A probe's or a user's certificate, good or bad, changes nothing: a user
            // proves who they are with their token.
            return Ok(caller.ok().flatten());
        }
        let caller = match caller {
            Ok(Some(caller)) => caller,
            Ok(None) => {
                return Err(Refusal::Unauthenticated(crate::policy::no_certificate(server)));
            }
            Err(problem) => return Err(Refusal::Unauthenticated(format!("{server}: {problem}"))),
        };
        let allowed = match route {
            Some(Route { access: Access::Only(allowed), .. }) => *allowed,
            _ => {
                return Err(Refusal::Forbidden(format!(
                    "{method} {path} is not a route {server} lets anyone call"
                )));
            }
        };
        if allowed.contains(&caller.0) {
            return Ok(Some(caller));
        }
        let names: Vec<&str> = allowed.iter().map(|service| service.name()).collect();
        Err(Refusal::Forbidden(format!(
            "{} may not call {method} {path}; only {} may",
            caller.0,
            names.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static POLICY: RoutePolicy = RoutePolicy {
        server: Service::Ingest,
        routes: &[
            Route {
                method: "POST",
                path: "/v1/accounts/{account_id}/jobs/delete-client",
                access: Access::Only(&[Service::Gateway]),
            },
            Route { method: "GET", path: "/healthz", access: Access::Anyone },
        ],
    };
    const DELETE: &str = "/v1/accounts/{account_id}/jobs/delete-client";

    #[test]
    fn an_allowed_identity_is_admitted_and_another_is_told_who_may_call() {
        let gateway = Ok(Some(Caller(Service::Gateway)));
        assert_eq!(POLICY.check("POST", DELETE, gateway), Ok(Some(Caller(Service::Gateway))));
        let jobsctl = Ok(Some(Caller(Service::Jobsctl)));
        assert_eq!(
            POLICY.check("POST", DELETE, jobsctl),
            Err(Refusal::Forbidden(format!(
                "jobsctl may not call POST {DELETE}; only gateway may"
            )))
        );
    }

    #[test]
    fn without_a_certificate_only_routes_open_to_anyone_answer() {
        assert!(matches!(POLICY.check("POST", DELETE, Ok(None)), Err(Refusal::Unauthenticated(_))));
        assert_eq!(POLICY.check("GET", "/healthz", Ok(None)), Ok(None));
        assert_eq!(POLICY.check("HEAD", "/healthz", Ok(None)), Ok(None));
        let bad = Err("the certificate names 2 bgjobs identities".to_owned());
        assert_eq!(POLICY.check("GET", "/healthz", bad), Ok(None));
    }

    #[test]
    fn a_route_or_method_without_an_entry_is_refused_to_everyone() {
        for service in Service::ALL {
            let caller = || Ok(Some(Caller(service)));
            assert!(matches!(POLICY.check("GET", DELETE, caller()), Err(Refusal::Forbidden(_))));
            assert!(matches!(POLICY.check("POST", "/other", caller()), Err(Refusal::Forbidden(_))));
        }
    }
}
