//! The user and password (or token) of a NATS URL, taken out of it: the client logs
//! the address it dials at debug level, so the address it is given must hold no
//! secret.

/// How a NATS server is told who connects.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Login {
    /// No credentials in the URL.
    Anonymous,
    /// `nats://USER:PASSWORD@HOST`.
    UserAndPassword { user: String, password: String },
    /// `nats://TOKEN@HOST`.
    Token(String),
}

/// `urls` (one URL or several separated by commas) without their credentials, and
/// the first credentials found, used for every server as the client does.
pub(super) fn split_login(urls: &str) -> (String, Login) {
    let mut login = Login::Anonymous;
    let addresses: Vec<String> = urls
        .split(',')
        .map(|url| {
            let (address, found) = split_one(url.trim());
            if login == Login::Anonymous {
                login = found;
            }
            address
        })
        .collect();
    (addresses.join(","), login)
}

fn split_one(url: &str) -> (String, Login) {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), Login::Anonymous);
    };
    let login = match rest[..at].split_once(':') {
        Some((user, password)) => {
            Login::UserAndPassword { user: user.to_owned(), password: password.to_owned() }
        }
        None => Login::Token(rest[..at].to_owned()),
    };
    let host = &rest[at + 1..];
    let address = match scheme {
        Some(scheme) => format!("{scheme}://{host}"),
        None => host.to_owned(),
    };
    (address, login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_address() {
        assert_eq!(
            split_login("nats://app:s3cret@nats:4222"),
            (
                "nats://nats:4222".to_owned(),
                Login::UserAndPassword { user: "app".to_owned(), password: "s3cret".to_owned() }
            )
        );
        assert_eq!(
            split_login("tls://t0ken@nats:4222"),
            ("tls://nats:4222".to_owned(), Login::Token("t0ken".to_owned()))
        );
        assert_eq!(
            split_login("nats://a:pw@n1:4222,nats://a:pw@n2:4222"),
            (
                "nats://n1:4222,nats://n2:4222".to_owned(),
                Login::UserAndPassword { user: "a".to_owned(), password: "pw".to_owned() }
            )
        );
        assert_eq!(
            split_login("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), Login::Anonymous)
        );
    }
}
