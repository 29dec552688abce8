//! Listing an account's jobs: filters, newest first, keyset pagination.

use bgjobs_domain::{AccountId, JobStatus, JobType};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use super::Job;
use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

/// The page size used when a request asks for 0.
const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a request gets, whatever it asks for.
const MAX_PAGE_SIZE: u32 = 200;

/// Which jobs of an account to list; empty lists and `None` do not filter.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFilter {
    /// The tenant whose jobs are listed; always applied.
    pub account_id: AccountId,
    /// Only jobs in one of these statuses.
    pub statuses: Vec<JobStatus>,
    /// Only jobs of one of these types.
    pub job_types: Vec<JobType>,
    /// Only jobs whose creator contains this text, ignoring case.
    pub created_by: Option<String>,
    /// Only jobs created at or after this instant (inclusive).
    pub created_from: Option<DateTime<Utc>>,
    /// Only jobs created before this instant (exclusive), so that "to the end of a day"
    /// is the start of the next day.
    pub created_to: Option<DateTime<Utc>>,
}

impl JobFilter {
    /// Every job of `account_id`.
    pub fn account(account_id: AccountId) -> Self {
        Self {
            account_id,
            statuses: Vec::new(),
            job_types: Vec::new(),
            created_by: None,
            created_from: None,
            created_to: None,
        }
    }
}

/// Which page to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Jobs per page: 0 means 50, more than 200 means 200.
    pub size: u32,
    /// The `next` cursor of the previous page; `None` for the first page.
    pub after: Option<String>,
}

/// One page of jobs, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The jobs of this page.
    pub jobs: Vec<Job>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

impl JobsStore {
    /// Lists the jobs matching `filter`, newest first (created_at desc, job_id desc),
    /// one page at a time. A cursor this store did not produce is [`Error::InvalidCursor`].
    pub async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page, Error> {
        let size = match page.size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let mut query = job_rows::Entity::find()
            .filter(job_rows::Column::AccountId.eq(filter.account_id.as_str()));
        if !filter.statuses.is_empty() {
            let statuses = filter.statuses.iter().map(|status| status.as_str());
            query = query.filter(job_rows::Column::Status.is_in(statuses));
        }
        if !filter.job_types.is_empty() {
            let job_types = filter.job_types.iter().map(|job_type| job_type.as_str());
            query = query.filter(job_rows::Column::JobType.is_in(job_types));
        }
        if let Some(created_by) = filter.created_by.as_deref().filter(|text| !text.is_empty()) {
            let creators = self.matching_creators(&filter.account_id, created_by).await?;
            if creators.is_empty() {
                return Ok(Page { jobs: Vec::new(), next: None });
            }
            query = query.filter(job_rows::Column::CreatedBy.is_in(creators));
        }
        if let Some(created_from) = filter.created_from {
            query = query.filter(job_rows::Column::CreatedAt.gte(created_from));
        }
        if let Some(created_to) = filter.created_to {
            query = query.filter(job_rows::Column::CreatedAt.lt(created_to));
        }
        if let Some(cursor) = &page.after {
            let Cursor { created_at, job_id } = Cursor::decode(cursor)?;
            // A row comparison, which Postgres answers from the (created_at, job_id) index.
            query = query.filter(
                Expr::tuple([
                    Expr::col(job_rows::Column::CreatedAt).into(),
                    Expr::col(job_rows::Column::JobId).into(),
                ])
                .lt(Expr::tuple([Expr::value(created_at), Expr::value(job_id)])),
            );
        }
        // One row more than the page tells whether there is a next page.
        let mut rows = query
            .order_by_desc(job_rows::Column::CreatedAt)
            .order_by_desc(job_rows::Column::JobId)
            .limit(u64::from(size) + 1)
            .all(&self.connection)
            .await?;
        let has_more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let jobs = rows.into_iter().map(Job::try_from).collect::<Result<Vec<_>, _>>()?;
        let next = match jobs.last() {
            Some(last) if has_more => {
                Some(Cursor { created_at: last.created_at, job_id: last.job_id.as_uuid() }.encode())
            }
            _ => None,
        };
        Ok(Page { jobs, next })
    }
}

impl JobsStore {
    /// The creators of `account`'s jobs whose name contains `text`, ignoring case.
    ///
    /// An account has few creators and many jobs: the creators are found with a skip
    /// scan of the (account, creator) index, one index probe per distinct creator, and
    /// only then their jobs. A text no creator has costs no look at the jobs at all,
    /// however many there are.
    async fn matching_creators(
        &self,
        account: &AccountId,
        text: &str,
    ) -> Result<Vec<String>, Error> {
        let pattern = format!("%{}%", escape_like(text));
        let statement = Statement::from_sql_and_values(
            self.connection.get_database_backend(),
            MATCHING_CREATORS,
            [account.as_str().into(), pattern.into()],
        );
        let rows = self.connection.query_all(statement).await?;
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<_, _>>()
            .map_err(Error::from)
    }
}

/// The distinct creators of account `$1`'s jobs, each found by one probe of
/// `jobs_account_creator_created` for the next creator after the last, kept when
/// their name matches the ILIKE pattern `$2`.
const MATCHING_CREATORS: &str = r#"
WITH RECURSIVE creators (created_by) AS (
    (SELECT created_by FROM jobs.jobs WHERE account_id = $1 ORDER BY created_by LIMIT 1)
    UNION ALL
    SELECT (
        SELECT later.created_by FROM jobs.jobs AS later
        WHERE later.account_id = $1 AND later.created_by > creators.created_by
        ORDER BY later.created_by LIMIT 1
    )
    FROM creators
    WHERE creators.created_by IS NOT NULL
)
SELECT created_by FROM creators WHERE created_by ILIKE $2
"#;

/// Escapes the LIKE wildcards of user text, so "50%" matches a literal percent sign.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The position after which the next page starts: the last job of the previous page.
/// Its text is a page's `next`; callers hand it back as a page token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    job_id: Uuid,
}

impl Cursor {
    /// 48 hex digits: microseconds since the epoch (Postgres' precision, 8 bytes) then
    /// the job id (16 bytes), in lower case. Opaque to callers and safe in a URL.
    pub fn encode(self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.job_id.as_bytes());
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The cursor [`Self::encode`] wrote as `text`, and nothing else: any other text,
    /// even one naming the same position (upper case, a sign before a digit), is
    /// [`Error::InvalidCursor`].
    pub fn decode(text: &str) -> Result<Self, Error> {
        let lower_hex = |byte: &u8| matches!(byte, b'0'..=b'9' | b'a'..=b'f');
        if text.len() != 48 || !text.as_bytes().iter().all(lower_hex) {
            return Err(Error::InvalidCursor);
        }
        let mut bytes = [0u8; 24];
        for (index, byte) in bytes.iter_mut().enumerate() {
            let pair = &text[index * 2..index * 2 + 2];
            *byte = u8::from_str_radix(pair, 16).map_err(|_| Error::InvalidCursor)?;
        }
        let (micros, job_id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| Error::InvalidCursor)?);
        let created_at = DateTime::from_timestamp_micros(micros).ok_or(Error::InvalidCursor)?;
        let job_id = Uuid::from_slice(job_id).map_err(|_| Error::InvalidCursor)?;
        Ok(Self { created_at, job_id })
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_domain::JobId;

    use super::*;

    #[test]
    fn cursors_round_trip_at_microsecond_precision() {
        let created_at = DateTime::from_timestamp_micros(1_735_689_600_123_456).expect("in range");
        let cursor = Cursor { created_at, job_id: JobId::new().as_uuid() };
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let valid = Cursor { created_at: Utc::now(), job_id: Uuid::nil() }.encode();
        let not_hex = format!("zz{}", &valid[2..]);
        let multibyte = format!("é{}", &valid[2..]);
        // u8::from_str_radix alone takes these, so they once named a position.
        let signed = format!("+{}", &valid[1..]);
        let upper = format!("{}{}", &valid[..46], "AB");
        for bad in ["", "abc", &valid[1..], &not_hex, &multibyte, &signed, &upper] {
            assert!(matches!(Cursor::decode(bad), Err(Error::InvalidCursor)), "{bad:?}");
        }
    }

    #[test]
    fn like_wildcards_in_search_text_are_literal() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
