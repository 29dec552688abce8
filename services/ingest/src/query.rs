//! Checks of an upload request's path and query, before any byte of the body is read.

use std::fmt;

use bgjobs_domain::AccountId;
use bgjobs_domain::recipient::{parse_email, parse_time_zone};
use bgjobs_domain::upload::write::WriteMode;
use bgjobs_proto::v1;
use encoding_rs::Encoding;
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::Error;

/// Longest client id: it is a reference id shown on the page and used in filters.
const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest user name in `created_by`.
const MAX_CREATED_BY_CHARS: usize = 256;
/// Longest user id in `user_id` (an identity provider's subject).
const MAX_USER_ID_CHARS: usize = 256;
/// Longest kept file name (the common file-system limit).
const MAX_FILE_NAME_CHARS: usize = 255;

/// The query string of a product upload, as sent: its client and the options of every
/// upload; every field is checked by [`UploadRequest::parse`].
#[derive(Debug, Default, Deserialize)]
pub struct UploadQuery {
    /// The account's client whose products are uploaded.
    pub client_id: Option<String>,
    /// What every upload's query says.
    #[serde(flatten)]
    pub options: OptionsQuery,
}

/// What the query of every upload says besides a client, as sent; every field is
/// checked by [`UploadOptions::parse`].
#[derive(Debug, Default, Deserialize)]
pub struct OptionsQuery {
    /// The user who starts the upload.
    pub created_by: Option<String>,
    /// The id of that user (their identity provider's subject), kept as the job's
    /// reference user id; optional.
    pub user_id: Option<String>,
    /// The name of the user's file; the `X-File-Name` header may give it instead.
    pub file_name: Option<String>,
    /// `partial` (default) or `all-or-nothing`.
    pub mode: Option<String>,
    /// `create-or-update` (default), `create-only` or `update-only`.
    pub write: Option<String>,
    /// The file's character encoding, e.g. `windows-1252`; UTF-8 when absent.
    pub encoding: Option<String>,
    /// Who is emailed when the job ends.
    #[serde(flatten)]
    pub notify: NotifyQuery,
}

/// Who is emailed when a job ends, as the query of every upload and of Delete Client
/// says it; checked by [`Recipient::parse`].
#[derive(Debug, Default, Deserialize)]
pub struct NotifyQuery {
    /// `false` to email nobody; `true` or absent to email `notify_email` when given.
    pub notify: Option<String>,
    /// The address of the user to email, usually the one who starts the job.
    pub notify_email: Option<String>,
    /// That user's IANA time zone (e.g. `Europe/Paris`), for the times in the email.
    pub notify_time_zone: Option<String>,
}

/// Who is emailed when a job ends, every field valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub email: String,
    /// The user's IANA time zone; UTC when absent.
    pub time_zone: Option<String>,
}

/// What to do with the valid rows of a file that has some invalid ones (docs/architecture.md,
/// "Processing rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Import the valid rows and report the rejected ones.
    #[default]
    Partial,
    /// Import nothing if any row is rejected.
    AllOrNothing,
}

impl Mode {
    /// The name used in the query string and in the job's parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partial => "partial",
            Self::AllOrNothing => "all-or-nothing",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A product upload request whose every field is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// The client whose catalogue is uploaded.
    pub client_id: String,
    /// Who, which file, and how to import it.
    pub options: UploadOptions,
}

/// What every upload request says besides a client, every field valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// The tenant the job belongs to.
    pub account: AccountId,
    /// The user who started the upload.
    pub created_by: String,
    /// The id of that user, empty when the caller named none.
    pub user_id: String,
    /// The user's file name, without any directory part; kept as metadata only.
    pub file_name: Option<String>,
    /// Partial or all-or-nothing import.
    pub mode: Mode,
    /// Whether existing records may be updated and new ones created.
    pub write: WriteMode,
    /// The file's encoding when it is not UTF-8.
    pub encoding: Option<&'static Encoding>,
    /// Who is emailed when the job ends; nobody when `None`.
    pub notify: Option<Recipient>,
}

impl UploadRequest {
    /// Checks the path's account id, the client and the options (see
    /// [`UploadOptions::parse`]).
    pub fn parse(
        account_id: &str,
        query: UploadQuery,
        file_name_header: Option<&str>,
    ) -> Result<Self, Error> {
        let account = parse_account(account_id)?;
        let client_id = parse_client_id(query.client_id)?;
        let options = UploadOptions::parse(account, query.options, file_name_header)?;
        Ok(Self { client_id, options })
    }

    /// The job's parameters JSON, as the consumer reads it: the options' parameters
    /// with `"client_id": "<client>"`.
    pub fn parameters_json(&self) -> String {
        let mut parameters = self.options.parameters();
        parameters.insert("client_id".to_owned(), self.client_id.clone().into());
        serde_json::Value::Object(parameters).to_string()
    }
}

impl UploadOptions {
    /// Checks the query and the `X-File-Name` header (percent-encoded UTF-8, as
    /// browsers send non-ASCII names) of an upload to `account`; the query's
    /// `file_name` wins over the header.
    pub fn parse(
        account: AccountId,
        query: OptionsQuery,
        file_name_header: Option<&str>,
    ) -> Result<Self, Error> {
        let created_by = parse_created_by(query.created_by)?;
        let user_id = parse_user_id(query.user_id)?;
        let header_name = file_name_header
            .map(|value| percent_decode_str(value).decode_utf8_lossy().into_owned());
        let file_name = parse_file_name(query.file_name.or(header_name))?;
        let mode = parse_mode(query.mode)?;
        let write = parse_write(query.write)?;
        let encoding = parse_encoding(query.encoding)?;
        let notify = Recipient::parse(query.notify)?;
        Ok(Self { account, created_by, user_id, file_name, mode, write, encoding, notify })
    }

    /// The job parameters these options set, as the consumer reads them:
    /// `"all_or_nothing": <bool>, "write": "<write mode>"`, and `"encoding": "<name>"`
    /// for a file that is not UTF-8.
    pub fn parameters(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut parameters = serde_json::Map::new();
        parameters.insert("all_or_nothing".to_owned(), (self.mode == Mode::AllOrNothing).into());
        parameters.insert("write".to_owned(), self.write.as_str().into());
        if let Some(encoding) = self.encoding {
            parameters.insert("encoding".to_owned(), encoding.name().to_lowercase().into());
        }
        parameters
    }
}

impl Recipient {
    /// Who the query names to email: nobody with `notify=false` (whatever else it
    /// says, since nothing is sent) or without `notify_email`; otherwise the address
    /// and the optional time zone, each checked. Any `notify` but `true` or `false`
    /// is refused, so that a misspelt opt-out never emails anyone.
    pub fn parse(query: NotifyQuery) -> Result<Option<Self>, Error> {
        match query.notify.as_deref().map(str::trim) {
            None | Some("") | Some("true") => {}
            Some("false") => return Ok(None),
            Some(other) => {
                return Err(Error::invalid(
                    "notify",
                    format!(
                        "notify '{other}' is not known; use true (email notify_email when the \
                         job ends) or false (email nobody)"
                    ),
                ));
            }
        }
        let time_zone = match query.notify_time_zone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(zone) => Some(parse_time_zone(zone).map_err(|problem| {
                Error::invalid("notify_time_zone", format!("notify_time_zone {problem}"))
            })?),
        };
        let email = match query.notify_email.as_deref().map(str::trim) {
            None | Some("") => return Ok(None),
            Some(email) => parse_email(email).map_err(|problem| {
                Error::invalid("notify_email", format!("notify_email {problem}"))
            })?,
        };
        Ok(Some(Self { email, time_zone }))
    }
}

impl From<Recipient> for v1::Recipient {
    fn from(recipient: Recipient) -> Self {
        Self { email: recipient.email, time_zone: recipient.time_zone.unwrap_or_default() }
    }
}

/// The account id of the path.
pub(crate) fn parse_account(account_id: &str) -> Result<AccountId, Error> {
    AccountId::parse(account_id)
        .map_err(|error| Error::invalid("account_id", format!("account_id in the path: {error}")))
}

fn parse_client_id(value: Option<String>) -> Result<String, Error> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(Error::invalid(
            "client_id",
            "client_id is required: add ?client_id=<the client whose products these are>",
        ));
    }
    let valid_chars =
        value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if value.chars().count() > MAX_CLIENT_ID_CHARS || !valid_chars {
        return Err(Error::invalid(
            "client_id",
            format!(
                "client_id '{value}' is not valid: use 1 to {MAX_CLIENT_ID_CHARS} letters, digits, \
                 '-', '_' or '.'"
            ),
        ));
    }
    Ok(value)
}

/// `partial` (the default) or `all-or-nothing`.
pub(crate) fn parse_mode(value: Option<String>) -> Result<Mode, Error> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("partial") => Ok(Mode::Partial),
        Some("all-or-nothing") => Ok(Mode::AllOrNothing),
        Some(other) => Err(Error::invalid(
            "mode",
            format!("mode '{other}' is not known; use partial or all-or-nothing"),
        )),
    }
}

/// `create-or-update` (the default), `create-only` or `update-only`.
pub(crate) fn parse_write(value: Option<String>) -> Result<WriteMode, Error> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(WriteMode::CreateOrUpdate),
        Some(name) => WriteMode::parse(name).ok_or_else(|| {
            Error::invalid(
                "write",
                format!(
                    "write '{name}' is not known; use create-or-update, create-only or update-only"
                ),
            )
        }),
    }
}

/// An encoding by its name or any of its usual labels (`latin1`, `cp1252`, `utf-16le`,
/// `shift_jis`...); `None` for UTF-8, which needs no decoding.
pub(crate) fn parse_encoding(value: Option<String>) -> Result<Option<&'static Encoding>, Error> {
    let label = value.as_deref().map(str::trim).unwrap_or_default();
    if label.is_empty() {
        return Ok(None);
    }
    match Encoding::for_label_no_replacement(label.as_bytes()) {
        Some(encoding) if encoding == encoding_rs::UTF_8 => Ok(None),
        Some(encoding) => Ok(Some(encoding)),
        None => Err(Error::invalid(
            "encoding",
            format!(
                "encoding '{label}' is not known; use utf-8 (the default), windows-1252, \
                 utf-16le, utf-16be, iso-8859-2 or another WHATWG encoding label"
            ),
        )),
    }
}

/// The user who starts a job: required, at most 256 characters, no control characters.
pub(crate) fn parse_created_by(value: Option<String>) -> Result<String, Error> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(Error::invalid(
            "created_by",
            "created_by is required: add ?created_by=<the user who starts the upload>",
        ));
    }
    if value.chars().count() > MAX_CREATED_BY_CHARS || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "created_by",
            format!(
                "created_by is not valid: use at most {MAX_CREATED_BY_CHARS} characters, \
                 without control characters"
            ),
        ));
    }
    Ok(value)
}

/// The id of the user who starts a job: optional (empty when absent), at most 256
/// characters, no control characters.
pub(crate) fn parse_user_id(value: Option<String>) -> Result<String, Error> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.chars().count() > MAX_USER_ID_CHARS || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "user_id",
            format!(
                "user_id is not valid: use at most {MAX_USER_ID_CHARS} characters, \
                 without control characters"
            ),
        ));
    }
    Ok(value)
}

/// The last path segment only: a name such as `C:\exports\products.csv` is kept as
/// `products.csv`. The name never becomes part of a key, but it is shown to users.
pub(crate) fn parse_file_name(value: Option<String>) -> Result<Option<String>, Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let base_name = value.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base_name.is_empty() {
        return Ok(None);
    }
    if base_name.chars().count() > MAX_FILE_NAME_CHARS || base_name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "file_name",
            format!(
                "file_name is not valid: use at most {MAX_FILE_NAME_CHARS} characters, \
                 without control characters"
            ),
        ));
    }
    Ok(Some(base_name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(client_id: Option<&str>, created_by: Option<&str>) -> UploadQuery {
        UploadQuery {
            client_id: client_id.map(str::to_owned),
            options: OptionsQuery {
                created_by: created_by.map(str::to_owned),
                ..OptionsQuery::default()
            },
        }
    }

    /// `query(Some("c"), Some("u"))` with one option changed by `change`.
    fn with_option(change: impl FnOnce(&mut OptionsQuery)) -> UploadQuery {
        let mut query = query(Some("c"), Some("u"));
        change(&mut query.options);
        query
    }

    fn parameters(request: &UploadRequest) -> serde_json::Value {
        serde_json::from_str(&request.parameters_json()).expect("parameters are JSON")
    }

    fn invalid_field(result: Result<UploadRequest, Error>) -> (&'static str, String) {
        match result {
            Err(Error::InvalidField { field, message }) => (field, message),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_is_accepted_with_its_defaults() {
        let request =
            UploadRequest::parse("acme", query(Some("client-1"), Some("jane")), None).expect("ok");
        assert_eq!(request.options.account.as_str(), "acme");
        assert_eq!(request.client_id, "client-1");
        assert_eq!(request.options.created_by, "jane");
        assert_eq!(request.options.user_id, "", "the user id is optional");
        assert_eq!(request.options.file_name, None);
        assert_eq!(request.options.mode, Mode::Partial);
        assert_eq!(
            parameters(&request),
            serde_json::json!({
                "client_id": "client-1",
                "all_or_nothing": false,
                "write": "create-or-update"
            })
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("acme/../x", query(Some("c"), Some("u")), "account_id"),
            ("acme", query(None, Some("u")), "client_id"),
            ("acme", query(Some("  "), Some("u")), "client_id"),
            ("acme", query(Some("a b"), Some("u")), "client_id"),
            ("acme", query(Some(&"c".repeat(65)), Some("u")), "client_id"),
            ("acme", query(Some("c"), None), "created_by"),
            ("acme", query(Some("c"), Some("a\nb")), "created_by"),
            ("acme", with_option(|options| options.user_id = Some("a\tb".into())), "user_id"),
            ("acme", with_option(|options| options.user_id = Some("u".repeat(257))), "user_id"),
        ];
        for (account, query, expected_field) in cases {
            let (field, message) = invalid_field(UploadRequest::parse(account, query, None));
            assert_eq!(field, expected_field);
            assert!(message.contains(expected_field), "{message}");
        }
    }

    #[test]
    fn an_unknown_mode_is_refused_and_all_or_nothing_is_kept() {
        let mut bad = query(Some("c"), Some("u"));
        bad.options.mode = Some("some".to_owned());
        assert_eq!(invalid_field(UploadRequest::parse("acme", bad, None)).0, "mode");

        let mut strict = query(Some("c"), Some("u"));
        strict.options.mode = Some("all-or-nothing".to_owned());
        let request = UploadRequest::parse("acme", strict, None).expect("ok");
        assert_eq!(
            parameters(&request),
            serde_json::json!({ "client_id": "c", "all_or_nothing": true, "write": "create-or-update" })
        );
    }

    #[test]
    fn an_unknown_write_mode_is_refused_naming_the_accepted_ones() {
        let mut bad = query(Some("c"), Some("u"));
        bad.options.write = Some("upsert".to_owned());
        let (field, message) = invalid_field(UploadRequest::parse("acme", bad, None));
        assert_eq!(field, "write");
        assert_eq!(
            message,
            "write 'upsert' is not known; use create-or-update, create-only or update-only"
        );

        let mut update_only = query(Some("c"), Some("u"));
        update_only.options.write = Some("update-only".to_owned());
        let request = UploadRequest::parse("acme", update_only, None).expect("ok");
        assert_eq!(request.options.write, WriteMode::UpdateOnly);
        assert_eq!(parameters(&request)["write"], "update-only");
    }

    #[test]
    fn file_names_lose_their_directories_and_the_query_wins_over_the_header() {
        let mut with_name = query(Some("c"), Some("u"));
        with_name.options.file_name = Some(r"C:\exports\products.csv".to_owned());
        let request = UploadRequest::parse("acme", with_name, Some("header.csv")).expect("ok");
        assert_eq!(request.options.file_name.as_deref(), Some("products.csv"));

        let request = UploadRequest::parse(
            "acme",
            query(Some("c"), Some("u")),
            Some("Produits%20%C3%A9t%C3%A9.csv"),
        )
        .expect("ok");
        assert_eq!(request.options.file_name.as_deref(), Some("Produits été.csv"));
    }

    #[test]
    fn an_encoding_is_named_by_any_of_its_labels_and_kept_in_the_parameters() {
        let latin = with_option(|options| options.encoding = Some("cp1252".into()));
        let request = UploadRequest::parse("acme", latin, None).expect("a known label");
        assert_eq!(request.options.encoding, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(parameters(&request)["encoding"], "windows-1252");

        let utf8 = with_option(|options| options.encoding = Some("UTF-8".into()));
        let request = UploadRequest::parse("acme", utf8, None).expect("utf-8");
        assert_eq!(request.options.encoding, None, "UTF-8 needs no decoding");
        assert!(parameters(&request).get("encoding").is_none());

        let unknown = with_option(|options| options.encoding = Some("ebcdic".into()));
        let (field, message) = invalid_field(UploadRequest::parse("acme", unknown, None));
        assert_eq!(field, "encoding");
        assert!(message.starts_with("encoding 'ebcdic' is not known; use utf-8"), "{message}");
    }

    /// The notify fields `(notify, notify_email, notify_time_zone)` of a query.
    fn notify_query(fields: (Option<&str>, Option<&str>, Option<&str>)) -> NotifyQuery {
        let (notify, email, time_zone) = fields;
        NotifyQuery {
            notify: notify.map(str::to_owned),
            notify_email: email.map(str::to_owned),
            notify_time_zone: time_zone.map(str::to_owned),
        }
    }

    #[test]
    fn a_recipient_is_recorded_when_an_address_is_given_and_notify_is_not_false() {
        let vera = |time_zone: Option<&str>| {
            Some(Recipient {
                email: "vera@example.com".to_owned(),
                time_zone: time_zone.map(str::to_owned),
            })
        };
        let cases = [
            ((None, None, None), None),
            ((Some("true"), None, None), None),
            ((None, Some("  "), Some("Europe/Paris")), None),
            ((None, Some(" vera@example.com "), None), vera(None)),
            ((Some("true"), Some("vera@example.com"), Some("")), vera(None)),
            ((None, Some("vera@example.com"), Some("Europe/Paris")), vera(Some("Europe/Paris"))),
        ];
        for (fields, expected) in cases {
            assert_eq!(
                Recipient::parse(notify_query(fields)).expect("valid"),
                expected,
                "{fields:?}"
            );
        }
    }

    #[test]
    fn notify_false_records_nobody_whatever_else_the_query_says() {
        for fields in [
            (Some("false"), Some("vera@example.com"), Some("Europe/Paris")),
            (Some(" false "), Some("not an address"), Some("not a zone")),
        ] {
            assert_eq!(Recipient::parse(notify_query(fields)).expect("valid"), None, "{fields:?}");
        }
    }

    #[test]
    fn each_bad_notify_field_is_named() {
        let cases = [
            ((Some("yes"), Some("vera@example.com"), None), "notify"),
            ((Some("FALSE"), None, None), "notify"),
            ((None, Some("vera"), None), "notify_email"),
            ((None, Some("vera@localhost"), None), "notify_email"),
            ((None, Some("vera@example.com"), Some("Europe Paris")), "notify_time_zone"),
            ((None, None, Some("../etc/passwd")), "notify_time_zone"),
        ];
        for (fields, expected_field) in cases {
            match Recipient::parse(notify_query(fields)) {
                Err(Error::InvalidField { field, message }) => {
                    assert_eq!(field, expected_field, "{fields:?}");
                    assert!(message.starts_with(&format!("{expected_field} '")), "{message}");
                }
                other => panic!("expected an invalid {expected_field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_uploads_query_carries_its_recipient() {
        let uri: axum::http::Uri = "/x?client_id=c&created_by=u&notify_email=vera%40example.com\
                                    &notify_time_zone=Asia%2FKolkata"
            .parse()
            .expect("a URI");
        let axum::extract::Query(with_recipient) =
            axum::extract::Query::<UploadQuery>::try_from_uri(&uri).expect("a query");
        let request = UploadRequest::parse("acme", with_recipient, None).expect("ok");
        let recipient = request.options.notify.clone().map(v1::Recipient::from);
        assert_eq!(
            recipient,
            Some(v1::Recipient {
                email: "vera@example.com".to_owned(),
                time_zone: "Asia/Kolkata".to_owned()
            })
        );
        assert!(parameters(&request).get("notify_email").is_none(), "not a job parameter");

        let bad = with_option(|options| options.notify = notify_query((Some("no"), None, None)));
        assert_eq!(invalid_field(UploadRequest::parse("acme", bad, None)).0, "notify");
    }
}
