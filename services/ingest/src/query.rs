//! Checks of an upload request's path and query, before any byte of the body is read.

use std::fmt;

use bgjobs_auth::Caller;
use bgjobs_domain::AccountId;
use bgjobs_domain::recipient::parse_time_zone;
use bgjobs_domain::upload::write::WriteMode;
use bgjobs_proto::v1;
use encoding_rs::Encoding;
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::Error;
use crate::user::{User, refuse_from_query};

/// Longest client id: it is a reference id shown on the page and used in filters.
const MAX_CLIENT_ID_CHARS: usize = 64;
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
    /// Refused: the user who starts the upload is the bearer token's.
    pub created_by: Option<String>,
    /// Refused: the user's id is the bearer token's `sub`.
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
    /// `false` to email nobody; `true` or absent to email the user at their token's
    /// `email` address, when it has one.
    pub notify: Option<String>,
    /// Refused: the address emailed is the bearer token's.
    pub notify_email: Option<String>,
    /// The user's IANA time zone (e.g. `Europe/Paris`) for the times in the email,
    /// used when the token has no `zoneinfo`.
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
    /// The user who started the upload: the token's name (else its `sub`).
    pub created_by: String,
    /// The id of that user: the token's `sub`.
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
    /// [`UploadOptions::parse`]) of an upload `user` starts.
    pub(crate) fn parse(
        user: &User,
        account_id: &str,
        query: UploadQuery,
        file_name_header: Option<&str>,
    ) -> Result<Self, Error> {
        let options = UploadOptions::parse(user, account_id, query.options, file_name_header)?;
        let client_id = parse_client_id(query.client_id)?;
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
    /// Checks the path's account id (the token's own), the query and the
    /// `X-File-Name` header (percent-encoded UTF-8, as browsers send non-ASCII names)
    /// of an upload `user` starts; the query's `file_name` wins over the header.
    pub(crate) fn parse(
        user: &User,
        account_id: &str,
        query: OptionsQuery,
        file_name_header: Option<&str>,
    ) -> Result<Self, Error> {
        let account = user.account(account_id)?;
        refuse_from_query("created_by", query.created_by.as_deref(), "the user who starts a job")?;
        refuse_from_query("user_id", query.user_id.as_deref(), "the user's id")?;
        let created_by = user.name().to_owned();
        let user_id = user.id().to_owned();
        let header_name = file_name_header
            .map(|value| percent_decode_str(value).decode_utf8_lossy().into_owned());
        let file_name = parse_file_name(query.file_name.or(header_name))?;
        let mode = parse_mode(query.mode)?;
        let write = parse_write(query.write)?;
        let encoding = parse_encoding(query.encoding)?;
        let notify = Recipient::parse(query.notify, &user.0)?;
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
    /// Who is emailed about a job `caller` starts: nobody with `notify=false`
    /// (whatever else the query says, since nothing is sent) or when the token has no
    /// address; otherwise the token's address, with its `zoneinfo` or else the query's
    /// checked `notify_time_zone`. Any `notify` but `true` or `false` is refused, so
    /// that a misspelt opt-out never emails anyone; `notify_email` is refused, since
    /// only the token says where to write.
    pub fn parse(query: NotifyQuery, caller: &Caller) -> Result<Option<Self>, Error> {
        refuse_from_query("notify_email", query.notify_email.as_deref(), "the address emailed")?;
        match query.notify.as_deref().map(str::trim) {
            None | Some("") | Some("true") => {}
            Some("false") => return Ok(None),
            Some(other) => {
                return Err(Error::invalid(
                    "notify",
                    format!(
                        "notify '{other}' is not known; use true (email the user when the job \
                         ends) or false (email nobody)"
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
        Ok(caller
            .email
            .clone()
            .map(|email| Self { email, time_zone: caller.time_zone.clone().or(time_zone) }))
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
    use crate::user::testing::jane;

    fn query(client_id: Option<&str>) -> UploadQuery {
        UploadQuery { client_id: client_id.map(str::to_owned), options: OptionsQuery::default() }
    }

    /// `query(Some("c"))` with one option changed by `change`.
    fn with_option(change: impl FnOnce(&mut OptionsQuery)) -> UploadQuery {
        let mut query = query(Some("c"));
        change(&mut query.options);
        query
    }

    /// An upload Jane (no address in her token) starts.
    fn parse(
        account_id: &str,
        query: UploadQuery,
        file_name_header: Option<&str>,
    ) -> Result<UploadRequest, Error> {
        UploadRequest::parse(&jane(None, None), account_id, query, file_name_header)
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
        let request = parse("acme", query(Some("client-1")), None).expect("ok");
        assert_eq!(request.options.account.as_str(), "acme");
        assert_eq!(request.client_id, "client-1");
        assert_eq!(request.options.created_by, "Jane Doe", "the token's name");
        assert_eq!(request.options.user_id, "u-jane", "the token's sub");
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
            ("acme/../x", query(Some("c")), "account_id"),
            ("acme", query(None), "client_id"),
            ("acme", query(Some("  ")), "client_id"),
            ("acme", query(Some("a b")), "client_id"),
            ("acme", query(Some(&"c".repeat(65))), "client_id"),
            ("acme", with_option(|options| options.created_by = Some("u".into())), "created_by"),
            ("acme", with_option(|options| options.user_id = Some("u".into())), "user_id"),
        ];
        for (account, query, expected_field) in cases {
            let (field, message) = invalid_field(parse(account, query, None));
            assert_eq!(field, expected_field);
            assert!(message.contains(expected_field), "{message}");
        }
    }

    #[test]
    fn an_unknown_mode_is_refused_and_all_or_nothing_is_kept() {
        let mut bad = query(Some("c"));
        bad.options.mode = Some("some".to_owned());
        assert_eq!(invalid_field(parse("acme", bad, None)).0, "mode");

        let mut strict = query(Some("c"));
        strict.options.mode = Some("all-or-nothing".to_owned());
        let request = parse("acme", strict, None).expect("ok");
        assert_eq!(
            parameters(&request),
            serde_json::json!({ "client_id": "c", "all_or_nothing": true, "write": "create-or-update" })
        );
    }

    #[test]
    fn an_unknown_write_mode_is_refused_naming_the_accepted_ones() {
        let mut bad = query(Some("c"));
        bad.options.write = Some("upsert".to_owned());
        let (field, message) = invalid_field(parse("acme", bad, None));
        assert_eq!(field, "write");
        assert_eq!(
            message,
            "write 'upsert' is not known; use create-or-update, create-only or update-only"
        );

        let mut update_only = query(Some("c"));
        update_only.options.write = Some("update-only".to_owned());
        let request = parse("acme", update_only, None).expect("ok");
        assert_eq!(request.options.write, WriteMode::UpdateOnly);
        assert_eq!(parameters(&request)["write"], "update-only");
    }

    #[test]
    fn file_names_lose_their_directories_and_the_query_wins_over_the_header() {
        let mut with_name = query(Some("c"));
        with_name.options.file_name = Some(r"C:\exports\products.csv".to_owned());
        let request = parse("acme", with_name, Some("header.csv")).expect("ok");
        assert_eq!(request.options.file_name.as_deref(), Some("products.csv"));

        let request =
            parse("acme", query(Some("c")), Some("Produits%20%C3%A9t%C3%A9.csv")).expect("ok");
        assert_eq!(request.options.file_name.as_deref(), Some("Produits été.csv"));
    }

    #[test]
    fn an_encoding_is_named_by_any_of_its_labels_and_kept_in_the_parameters() {
        let latin = with_option(|options| options.encoding = Some("cp1252".into()));
        let request = parse("acme", latin, None).expect("a known label");
        assert_eq!(request.options.encoding, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(parameters(&request)["encoding"], "windows-1252");

        let utf8 = with_option(|options| options.encoding = Some("UTF-8".into()));
        let request = parse("acme", utf8, None).expect("utf-8");
        assert_eq!(request.options.encoding, None, "UTF-8 needs no decoding");
        assert!(parameters(&request).get("encoding").is_none());

        let unknown = with_option(|options| options.encoding = Some("ebcdic".into()));
        let (field, message) = invalid_field(parse("acme", unknown, None));
        assert_eq!(field, "encoding");
        assert!(message.starts_with("encoding 'ebcdic' is not known; use utf-8"), "{message}");
    }

    /// The notify fields `(notify, notify_time_zone)` of a query.
    fn notify_query(fields: (Option<&str>, Option<&str>)) -> NotifyQuery {
        let (notify, time_zone) = fields;
        NotifyQuery {
            notify: notify.map(str::to_owned),
            notify_email: None,
            notify_time_zone: time_zone.map(str::to_owned),
        }
    }

    fn caller(email: Option<&str>, time_zone: Option<&str>) -> Caller {
        jane(email, time_zone).0
    }

    #[test]
    fn the_recipient_is_the_tokens_address_unless_notify_is_false() {
        let jane_at = |time_zone: Option<&str>| {
            Some(Recipient {
                email: "jane@example.com".to_owned(),
                time_zone: time_zone.map(str::to_owned),
            })
        };
        let addressed = caller(Some("jane@example.com"), None);
        let zoned = caller(Some("jane@example.com"), Some("Europe/Paris"));
        let unaddressed = caller(None, Some("Europe/Paris"));
        let cases = [
            (&addressed, (None, None), jane_at(None)),
            (&addressed, (Some("true"), Some("")), jane_at(None)),
            (&addressed, (None, Some("Asia/Kolkata")), jane_at(Some("Asia/Kolkata"))),
            (&zoned, (None, Some("Asia/Kolkata")), jane_at(Some("Europe/Paris"))),
            (&unaddressed, (Some("true"), Some("Asia/Kolkata")), None),
            (&addressed, (Some("false"), Some("Asia/Kolkata")), None),
            (&addressed, (Some(" false "), Some("not a zone")), None),
        ];
        for (caller, fields, expected) in cases {
            let recipient = Recipient::parse(notify_query(fields), caller).expect("valid");
            assert_eq!(recipient, expected, "{fields:?}");
        }
    }

    #[test]
    fn each_bad_notify_field_is_named_and_an_address_in_the_query_is_refused() {
        let addressed = caller(Some("jane@example.com"), None);
        let cases = [
            (notify_query((Some("yes"), None)), "notify", "notify 'yes' is not known"),
            (notify_query((Some("FALSE"), None)), "notify", "notify 'FALSE' is not known"),
            (
                notify_query((None, Some("Europe Paris"))),
                "notify_time_zone",
                "notify_time_zone 'Europe Paris'",
            ),
            (
                notify_query((None, Some("../etc/passwd"))),
                "notify_time_zone",
                "notify_time_zone '../etc/passwd'",
            ),
            (
                NotifyQuery {
                    notify_email: Some("mallory@example.com".to_owned()),
                    ..NotifyQuery::default()
                },
                "notify_email",
                "notify_email is not accepted: the address emailed comes from the bearer token",
            ),
        ];
        for (query, expected_field, expected_start) in cases {
            match Recipient::parse(query, &addressed) {
                Err(Error::InvalidField { field, message }) => {
                    assert_eq!(field, expected_field);
                    assert!(message.starts_with(expected_start), "{message}");
                }
                other => panic!("expected an invalid {expected_field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_uploads_query_carries_its_recipient() {
        let uri: axum::http::Uri =
            "/x?client_id=c&notify_time_zone=Asia%2FKolkata".parse().expect("a URI");
        let axum::extract::Query(with_zone) =
            axum::extract::Query::<UploadQuery>::try_from_uri(&uri).expect("a query");
        let jane = jane(Some("jane@example.com"), None);
        let request = UploadRequest::parse(&jane, "acme", with_zone, None).expect("ok");
        let recipient = request.options.notify.clone().map(v1::Recipient::from);
        assert_eq!(
            recipient,
            Some(v1::Recipient {
                email: "jane@example.com".to_owned(),
                time_zone: "Asia/Kolkata".to_owned()
            })
        );
        assert!(parameters(&request).get("notify_time_zone").is_none(), "not a job parameter");

        let bad = with_option(|options| options.notify = notify_query((Some("no"), None)));
        assert_eq!(invalid_field(parse("acme", bad, None)).0, "notify");
    }
}
