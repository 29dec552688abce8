//! Who is emailed when a job started from the page ends: the signed-in user, at the
//! address of their token, unless they opt out. Ingest reads the address from the
//! same token; the gateway checks the request first, and tells ingest whether to
//! email and the zone for the times.

use bgjobs_domain::recipient::parse_time_zone;

use crate::auth::Caller;
use crate::error::ApiError;

/// Who is emailed when the job ends, as forwarded to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The user opted out (`notify=false`): ingest is told so.
    OptedOut,
    /// The user's token has no valid address: there is nobody to email.
    NoAddress,
    /// The user, at their token's address; times in `time_zone` (UTC when `None`).
    User {
        /// The token's `email`.
        email: String,
        /// The token's `zoneinfo`, or else the zone the browser sent.
        time_zone: Option<String>,
    },
}

impl Recipient {
    /// The recipient of a job `caller` starts. `notify` is the request's (`false` opts
    /// out; `true` or absent does not); `browser_time_zone` is the zone the page sent,
    /// used when the token names none. The address only ever comes from the token.
    pub fn of(
        caller: &Caller,
        notify: Option<&str>,
        browser_time_zone: Option<&str>,
    ) -> Result<Self, ApiError> {
        let opted_out = match notify.map(str::trim) {
            None | Some("") | Some("true") => false,
            Some("false") => true,
            Some(other) => {
                return Err(ApiError::Invalid(format!(
                    "notify '{other}' is not known; use true (email me when the job ends) or \
                     false (email nobody)"
                )));
            }
        };
        let browser_time_zone = match browser_time_zone.map(str::trim) {
            None | Some("") => None,
            Some(zone) => Some(
                parse_time_zone(zone)
                    .map_err(|problem| ApiError::Invalid(format!("time_zone {problem}")))?,
            ),
        };
        if opted_out {
            return Ok(Self::OptedOut);
        }
        Ok(match &caller.email {
            None => Self::NoAddress,
            Some(email) => Self::User {
                email: email.clone(),
                time_zone: caller.time_zone.clone().or(browser_time_zone),
            },
        })
    }

    /// The query parameters that tell ingest: whether to email, and the zone (the
    /// address is the token's, which ingest reads itself).
    pub fn query(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::OptedOut => vec![("notify", "false")],
            Self::NoAddress => Vec::new(),
            Self::User { time_zone, .. } => {
                time_zone.as_deref().map(|zone| ("notify_time_zone", zone)).into_iter().collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_domain::AccountId;

    use super::*;

    fn caller(email: Option<&str>, time_zone: Option<&str>) -> Caller {
        Caller {
            user_id: "u-vera".into(),
            name: "Vera".into(),
            account: AccountId::parse("acct").expect("valid"),
            can_retry: true,
            email: email.map(str::to_owned),
            time_zone: time_zone.map(str::to_owned),
        }
    }

    fn vera(time_zone: Option<&str>) -> Recipient {
        Recipient::User {
            email: "vera@example.com".into(),
            time_zone: time_zone.map(str::to_owned),
        }
    }

    #[test]
    fn the_token_names_the_address_and_its_zone_wins_over_the_browsers() {
        let with_zone = caller(Some("vera@example.com"), Some("Europe/Paris"));
        let without_zone = caller(Some("vera@example.com"), None);
        let cases = [
            (&with_zone, None, Some("Asia/Kolkata"), vera(Some("Europe/Paris"))),
            (&without_zone, Some("true"), Some("Asia/Kolkata"), vera(Some("Asia/Kolkata"))),
            (&without_zone, None, None, vera(None)),
        ];
        for (caller, notify, browser_zone, expected) in cases {
            assert_eq!(Recipient::of(caller, notify, browser_zone).expect("valid"), expected);
        }
        assert_eq!(vera(Some("Asia/Kolkata")).query(), vec![("notify_time_zone", "Asia/Kolkata")]);
    }

    #[test]
    fn notify_false_opts_out_and_a_token_without_an_address_emails_nobody() {
        let opted_out = Recipient::of(&caller(Some("vera@example.com"), None), Some("false"), None);
        assert_eq!(opted_out.expect("valid"), Recipient::OptedOut);
        assert_eq!(Recipient::OptedOut.query(), vec![("notify", "false")]);
        let no_address = Recipient::of(&caller(None, None), None, Some("Europe/Paris"));
        assert_eq!(no_address.expect("valid"), Recipient::NoAddress);
        assert!(Recipient::NoAddress.query().is_empty());
    }

    #[test]
    fn a_bad_notify_or_time_zone_is_refused_naming_it() {
        let vera = caller(Some("vera@example.com"), None);
        let bad_notify = Recipient::of(&vera, Some("no"), None).expect_err("refused");
        assert!(bad_notify.to_string().starts_with("notify 'no' is not known"), "{bad_notify}");
        let bad_zone = Recipient::of(&vera, None, Some("Paris, France")).expect_err("refused");
        assert!(
            bad_zone.to_string().starts_with("time_zone 'Paris, France' is not a time zone"),
            "{bad_zone}"
        );
    }
}
