//! Who starts a job: the user a bearer token names. Every route that starts a job
//! needs one, whoever calls: the gateway forwards the signed-in user's own token, and
//! a user may call ingest directly where it is exposed. The account, the user's name
//! and id and the address to email come from the verified token, never from the
//! request, so no caller can start a job for another account or in another user's
//! name.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use bgjobs_auth::Caller;
use bgjobs_domain::AccountId;

use crate::Error;
use crate::query::parse_account;
use crate::state::AppState;

/// A user whose token is valid and carries the roles that start jobs.
#[derive(Debug, Clone)]
pub(crate) struct User(pub Caller);

impl FromRequestParts<AppState> for User {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let header = parts.headers.get(AUTHORIZATION).map(|value| value.as_bytes());
        let token = bgjobs_auth::bearer_token(header)?;
        let caller = state.verifier.verify(token).await?;
        caller.require_retry()?;
        Ok(Self(caller))
    }
}

impl User {
    /// The account of the path, which must be the token's: a user starts jobs in
    /// their own account only.
    pub(crate) fn account(&self, account_id: &str) -> Result<AccountId, Error> {
        let account = parse_account(account_id)?;
        if account != self.0.account {
            return Err(Error::Forbidden(format!(
                "your sign-in is for account '{}'; it cannot start jobs in account '{account}'",
                self.0.account
            )));
        }
        Ok(account)
    }

    /// The name shown as Created By.
    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    /// The user's id (`sub`), kept as the job's reference user id.
    pub(crate) fn id(&self) -> &str {
        &self.0.user_id
    }
}

/// Refuses a query parameter that names what only the token may say.
pub(crate) fn refuse_from_query(
    field: &'static str,
    value: Option<&str>,
    what: &str,
) -> Result<(), Error> {
    match value {
        None => Ok(()),
        Some(_) => Err(Error::invalid(
            field,
            format!("{field} is not accepted: {what} comes from the bearer token; leave it out"),
        )),
    }
}

/// Users for the unit tests of what they start.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Jane Doe (`u-jane`) of account `acme`, with the roles that start jobs, at
    /// `email` with `time_zone` in her token.
    pub(crate) fn jane(email: Option<&str>, time_zone: Option<&str>) -> User {
        User(Caller {
            user_id: "u-jane".to_owned(),
            name: "Jane Doe".to_owned(),
            account: AccountId::parse("acme").expect("a valid account id"),
            can_retry: true,
            email: email.map(str::to_owned),
            time_zone: time_zone.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::jane;
    use super::*;

    #[test]
    fn a_user_starts_jobs_in_their_own_account_only() {
        let user = jane(None, None);
        assert_eq!(user.account("acme").expect("her account").as_str(), "acme");
        match user.account("globex") {
            Err(Error::Forbidden(message)) => assert_eq!(
                message,
                "your sign-in is for account 'acme'; it cannot start jobs in account 'globex'"
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            user.account("acme/../globex"),
            Err(Error::InvalidField { field: "account_id", .. })
        ));
    }

    #[test]
    fn what_only_the_token_says_is_refused_from_the_query() {
        assert!(refuse_from_query("created_by", None, "the user").is_ok());
        match refuse_from_query("created_by", Some("mallory"), "the user who starts a job") {
            Err(Error::InvalidField { field, message }) => {
                assert_eq!(field, "created_by");
                assert_eq!(
                    message,
                    "created_by is not accepted: the user who starts a job comes from the \
                     bearer token; leave it out"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
