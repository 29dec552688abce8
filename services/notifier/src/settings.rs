//! How the notifier sends email.

use bgjobs_config::values::{HttpUrl, SmtpUrl};

bgjobs_config::section! {
    /// The SMTP server, the sender and the page that emails link to.
    pub struct Mail {
        /// The SMTP server: `smtps://USER:PASSWORD@HOST:465` (TLS from the start),
        /// `smtp://USER:PASSWORD@HOST:587?tls=required` (STARTTLS), or `smtp://HOST:PORT`
        /// without TLS, for a server on this machine only (the local stack's).
        "BGJOBS_SMTP_URL" => smtp_url: SmtpUrl = "smtp://127.0.0.1:2525";
        /// The sender of notification emails, as `Name <address>` or an address.
        "BGJOBS_MAIL_FROM" => from: String = "Background Jobs <bgjobs@localhost>";
        /// The Background Jobs page that emails link to (`<it>/?job=<id>`).
        "BGJOBS_PAGE_URL" => page_url: HttpUrl = "http://127.0.0.1:8080";
    }
}
