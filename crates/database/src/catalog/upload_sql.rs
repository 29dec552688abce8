//! The set-based statements of an upload batch: a batch travels as one array per
//! column (`unnest`), so a statement has the same few parameters and the same plan
//! whatever the batch size, instead of one bind parameter per value.
//!
//! Each array is sent as the text of an array literal (see [`ArrayLiteral`]) and cast
//! in the statement to an array of its column's type, NULLs included.

use std::collections::{HashMap, HashSet};

use bgjobs_domain::JobId;
use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use sea_orm::sea_query::{ColumnType, StringLen};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityName, Iden, QueryResult, Statement, Value,
};

use super::array_literal::{ArrayLiteral, DataColumns};
use super::upload_batch::{Column, UploadTable, natural_key};
use crate::Error;
use crate::convert::read_u64;

/// Whose rows [`existing`] looks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Writer {
    /// Every row, whoever wrote it.
    Anyone,
    /// Rows another job (or no job) wrote last. For create-only: a row this job wrote
    /// last was created by an earlier attempt of it (a retry, a stall recovery or a
    /// replay starts over from row 1), so it is the job's own, not one that already
    /// existed; refusing it would fail every new attempt of an all-or-nothing upload.
    NotThisJob(JobId),
}

/// A statement's parameters, numbered as they are added.
#[derive(Default)]
struct Parameters(Vec<Value>);

impl Parameters {
    /// Adds `value`; returns its placeholder (`$3`).
    fn add(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    fn statement(self, connection: &impl ConnectionTrait, sql: String) -> Statement {
        Statement::from_sql_and_values(connection.get_database_backend(), sql, self.0)
    }
}

/// A quoted identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table's schema-qualified, quoted name.
fn table_name<T: UploadTable>() -> String {
    let entity = T::Entity::default();
    match entity.schema_name() {
        Some(schema) => format!("{}.{}", quoted(schema), quoted(entity.table_name())),
        None => quoted(entity.table_name()),
    }
}

fn column_name<T: UploadTable>(column: Column<T>) -> String {
    quoted(&column.to_string())
}

/// The Postgres type a data column's text is cast to.
fn sql_type<T: UploadTable>(column: Column<T>) -> Result<&'static str, Error> {
    Ok(match column.def().get_column_type() {
        ColumnType::Text | ColumnType::String(StringLen::None) => "text",
        ColumnType::Decimal(_) => "numeric",
        ColumnType::Boolean => "boolean",
        ColumnType::Integer => "integer",
        other => {
            return Err(Error::InvalidInput(format!(
                "column {} has type {other:?}, which an upload cannot write",
                column.to_string()
            )));
        }
    })
}

/// `scope_column = $n AND ...` for the table's scope, on alias `stored`.
fn scope_condition<T: UploadTable>(table: &T, parameters: &mut Parameters) -> String {
    table
        .scope()
        .into_iter()
        .map(|(column, value)| {
            format!("stored.{} = {}", column_name::<T>(column), parameters.add(value))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// One array literal per key column, over the key parts of each row.
fn key_arrays<'a>(parts: usize, rows: impl ExactSizeIterator<Item = Vec<&'a str>>) -> Vec<Value> {
    let mut arrays: Vec<ArrayLiteral> =
        (0..parts).map(|_| ArrayLiteral::with_capacity(rows.len() * 16)).collect();
    for row in rows {
        for (array, part) in arrays.iter_mut().zip(row) {
            array.push(Some(part));
        }
    }
    arrays.into_iter().map(ArrayLiteral::finish).collect()
}

/// The natural keys among `keys` (each the values of [`UploadTable::KEY`]) that exist
/// in the table's scope, last written by `writer`; `lock` takes their row locks (in key
/// order) so they cannot go away before the transaction ends.
pub(crate) async fn existing<T: UploadTable>(
    connection: &impl ConnectionTrait,
    table: &T,
    keys: &[Vec<&str>],
    writer: Writer,
    lock: bool,
) -> Result<HashSet<String>, Error> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let mut parameters = Parameters::default();
    let mut conditions = vec![scope_condition(table, &mut parameters)];
    if let Writer::NotThisJob(job) = writer {
        let last_job = format!("stored.{}", column_name::<T>(T::LAST_JOB_ID));
        let job = parameters.add(job.as_uuid());
        conditions.push(format!("({last_job} IS NULL OR {last_job} <> {job})"));
    }
    let mut probes = Vec::with_capacity(T::KEY.len());
    let mut joins = Vec::with_capacity(T::KEY.len());
    let mut selected = Vec::with_capacity(T::KEY.len());
    let values = key_arrays(T::KEY.len(), keys.iter().cloned());
    for ((part, column), values) in T::KEY.iter().enumerate().zip(values) {
        probes.push(format!("{}::text[]", parameters.add(values)));
        let column = format!("stored.{}", column_name::<T>(*column));
        joins.push(format!("{column} = probe.k{part}"));
        selected.push(column);
    }
    let names: Vec<String> = (0..T::KEY.len()).map(|part| format!("k{part}")).collect();
    let sql = format!(
        "SELECT {selected} FROM {table} AS stored \
         JOIN unnest({probes}) AS probe ({names}) ON {joins} \
         WHERE {conditions} ORDER BY {selected}{lock}",
        selected = selected.join(", "),
        table = table_name::<T>(),
        probes = probes.join(", "),
        names = names.join(", "),
        joins = joins.join(" AND "),
        conditions = conditions.join(" AND "),
        lock = if lock { " FOR UPDATE OF stored" } else { "" },
    );
    let found = connection.query_all(parameters.statement(connection, sql)).await?;
    found.iter().map(read_key::<T>).collect::<Result<_, _>>().map_err(Error::from)
}

/// Whether [`upsert`] leaves out rows whose key an earlier input row of the job gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Earlier {
    /// The caller has left them out already (every key is claimed before the write).
    LeftOut,
    /// Left out by the statement: a key claimed by an earlier row, or a record an
    /// earlier row of the job wrote (its `last_job_id` and `last_job_row`).
    Skipped,
}

/// One `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE ... WHERE <something
/// differs>` of `rows` (input row number, key, row; distinct keys, in key order),
/// returning the written keys. Each written record carries the job and the input row
/// that wrote it. For create-only the update also needs the existing row to be this
/// job's own (see [`Writer::NotThisJob`]): another job's row is left alone. With
/// [`Earlier::Skipped`], rows an earlier row of the job gave are left alone too.
///
/// Rows that differ in nothing are skipped by the WHERE and return no row (they are
/// unchanged); of the returned rows, `xmax = 0` marks the freshly inserted ones (an
/// updated row version carries the updating transaction).
pub(crate) async fn upsert<T: UploadTable>(
    transaction: &impl ConnectionTrait,
    table: &T,
    job: JobId,
    rows: &[(u64, &str, &T::Row)],
    write: WriteMode,
    earlier: Earlier,
) -> Result<Vec<(String, RowOutcome)>, Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut parameters = Parameters::default();
    let mut columns = Vec::new();
    let mut selected = Vec::new();
    for (column, value) in table.scope() {
        columns.push(column_name::<T>(column));
        selected.push(parameters.add(value));
    }
    let job_parameter = parameters.add(job.as_uuid());
    let mut arrays = Vec::new();
    let mut names = Vec::new();
    let keys = key_arrays(T::KEY.len(), rows.iter().map(|(_, _, row)| T::key_parts(row)));
    for (part, values) in keys.into_iter().enumerate() {
        arrays.push(format!("{}::text[]", parameters.add(values)));
        names.push(format!("k{part}"));
        columns.push(column_name::<T>(T::KEY[part]));
        selected.push(format!("input.k{part}"));
    }
    // The scope and key columns: the table's primary key.
    let conflict = columns.clone();
    let bare: Vec<(&str, &T::Row)> = rows.iter().map(|(_, key, row)| (*key, *row)).collect();
    for (index, (column, values)) in T::DATA.iter().zip(data_arrays::<T>(&bare)?).enumerate() {
        arrays.push(format!("{}::{}[]", parameters.add(values), sql_type::<T>(*column)?));
        names.push(format!("d{index}"));
        columns.push(column_name::<T>(*column));
        selected.push(format!("input.d{index}"));
    }
    arrays.push(format!("{}::bigint[]", parameters.add(numbers(rows.iter().map(|row| row.0)))));
    names.push("row_number".to_owned());
    columns.push(column_name::<T>(T::LAST_JOB_ID));
    selected.push(job_parameter.clone());
    columns.push(column_name::<T>(T::LAST_JOB_ROW));
    selected.push("input.row_number".to_owned());

    let data: Vec<String> = T::DATA.iter().map(|column| column_name::<T>(*column)).collect();
    let last_job = column_name::<T>(T::LAST_JOB_ID);
    let last_row = column_name::<T>(T::LAST_JOB_ROW);
    let mut updates: Vec<String> = data
        .iter()
        .chain([&last_job, &last_row])
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    updates.push(format!("{} = now()", column_name::<T>(T::UPDATED_AT)));
    let current: Vec<String> = data.iter().map(|column| format!("stored.{column}")).collect();
    let proposed: Vec<String> = data.iter().map(|column| format!("excluded.{column}")).collect();
    let mut update_when =
        format!("({}) IS DISTINCT FROM ({})", current.join(", "), proposed.join(", "));
    if write == WriteMode::CreateOnly {
        update_when = format!("stored.{last_job} = {job_parameter} AND {update_when}");
    }
    let mut input_when = String::new();
    if earlier == Earlier::Skipped {
        // A record written by an earlier row of this job: NULL for a row number means
        // a row written before the number was kept, which was earlier too.
        update_when = format!(
            "(stored.{last_job} IS DISTINCT FROM {job_parameter} \
             OR stored.{last_row} >= excluded.{last_row}) AND {update_when}"
        );
        input_when = format!(
            " WHERE NOT EXISTS (SELECT 1 FROM catalog.upload_keys AS claim \
             WHERE claim.job_id = {job_parameter} AND claim.natural_key = {} \
             AND claim.first_row < input.row_number)",
            natural_key_sql::<T>("input.k")
        );
    }
    let keys: Vec<String> = (0..T::KEY.len()).map(|part| format!("input.k{part}")).collect();
    let returned: Vec<String> =
        T::KEY.iter().map(|column| format!("stored.{}", column_name::<T>(*column))).collect();
    let sql = format!(
        "INSERT INTO {table} AS stored ({columns}) \
         SELECT {selected} FROM unnest({arrays}) AS input ({names}){input_when} ORDER BY {keys} \
         ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {update_when} \
         RETURNING {returned}, (stored.xmax = 0) AS inserted",
        table = table_name::<T>(),
        columns = columns.join(", "),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        names = names.join(", "),
        keys = keys.join(", "),
        conflict = conflict.join(", "),
        updates = updates.join(", "),
        returned = returned.join(", "),
    );
    let returned = transaction.query_all(parameters.statement(transaction, sql)).await?;
    let mut written = Vec::with_capacity(returned.len());
    for result in &returned {
        let inserted: bool = result.try_get("", "inserted")?;
        let outcome = if inserted { RowOutcome::Created } else { RowOutcome::Updated };
        written.push((read_key::<T>(result)?, outcome));
    }
    Ok(written)
}

/// For each of `rows` (input row number, key parts; distinct keys), the earliest input
/// row of `job` before it that gave its key, if one did: the row that claimed the key,
/// or the row that wrote the record last (from its `last_job_id` and `last_job_row`).
/// Returned by natural key.
pub(crate) async fn earlier_rows<T: UploadTable>(
    transaction: &impl ConnectionTrait,
    table: &T,
    job: JobId,
    rows: &[(u64, Vec<&str>)],
) -> Result<HashMap<String, u64>, Error> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut parameters = Parameters::default();
    let mut conditions = vec![scope_condition(table, &mut parameters)];
    let job = parameters.add(job.as_uuid());
    let mut arrays = Vec::with_capacity(T::KEY.len() + 1);
    let mut names = Vec::with_capacity(T::KEY.len() + 1);
    let mut selected = Vec::with_capacity(T::KEY.len());
    let keys = key_arrays(T::KEY.len(), rows.iter().map(|(_, parts)| parts.clone()));
    for ((part, column), values) in T::KEY.iter().enumerate().zip(keys) {
        arrays.push(format!("{}::text[]", parameters.add(values)));
        names.push(format!("k{part}"));
        conditions.push(format!("stored.{} = probe.k{part}", column_name::<T>(*column)));
        selected.push(format!("probe.k{part}"));
    }
    arrays.push(format!("{}::bigint[]", parameters.add(numbers(rows.iter().map(|row| row.0)))));
    names.push("row_number".to_owned());
    let sql = format!(
        "SELECT {selected}, probe.row_number, \
         CASE WHEN stored.{last_job} = {job} THEN stored.{last_row} END AS written_by, \
         claim.first_row AS claimed_by \
         FROM unnest({arrays}) AS probe ({names}) \
         LEFT JOIN {table} AS stored ON {conditions} \
         LEFT JOIN catalog.upload_keys AS claim \
         ON claim.job_id = {job} AND claim.natural_key = {natural_key}",
        selected = selected.join(", "),
        last_job = column_name::<T>(T::LAST_JOB_ID),
        last_row = column_name::<T>(T::LAST_JOB_ROW),
        arrays = arrays.join(", "),
        names = names.join(", "),
        table = table_name::<T>(),
        conditions = conditions.join(" AND "),
        natural_key = natural_key_sql::<T>("probe.k"),
    );
    let found = transaction.query_all(parameters.statement(transaction, sql)).await?;
    let mut earlier = HashMap::new();
    for result in &found {
        let parts: Vec<String> = (0..T::KEY.len())
            .map(|part| result.try_get_by_index::<String>(part))
            .collect::<Result<_, _>>()?;
        let row = read_u64("row number", result.try_get("", "row_number")?)?;
        let written_by: Option<i64> = result.try_get("", "written_by")?;
        let claimed_by: Option<i64> = result.try_get("", "claimed_by")?;
        let mut first: Option<u64> = None;
        for candidate in [written_by, claimed_by].into_iter().flatten() {
            let candidate = read_u64("first row", candidate)?;
            if candidate < row {
                first = Some(first.map_or(candidate, |first| first.min(candidate)));
            }
        }
        if let Some(first) = first {
            earlier
                .insert(natural_key(&parts.iter().map(String::as_str).collect::<Vec<_>>()), first);
        }
    }
    Ok(earlier)
}

/// The SQL of a natural key (see [`natural_key`]) from the key columns `{prefix}0`,
/// `{prefix}1`, ...: lengths in bytes, as Rust counts them.
fn natural_key_sql<T: UploadTable>(prefix: &str) -> String {
    let last = T::KEY.len().saturating_sub(1);
    let mut sql: Vec<String> = (0..last)
        .map(|part| format!("octet_length({prefix}{part})::text || ':' || {prefix}{part} || ':'"))
        .collect();
    sql.push(format!("{prefix}{last}"));
    sql.join(" || ")
}

/// An array literal of input row numbers.
fn numbers(rows: impl ExactSizeIterator<Item = u64>) -> Value {
    let mut array = ArrayLiteral::with_capacity(rows.len() * 8);
    for number in rows {
        array.push_display(Some(number));
    }
    array.finish()
}

/// One array literal per data column, over `rows`.
fn data_arrays<T: UploadTable>(rows: &[(&str, &T::Row)]) -> Result<Vec<Value>, Error> {
    let mut columns = DataColumns::new(T::DATA.len(), rows.len());
    for (_, row) in rows {
        T::write_data(row, &mut columns);
        let values = columns.end_row();
        if values != T::DATA.len() {
            return Err(Error::InvalidInput(format!(
                "a row has {values} data values for {} data columns",
                T::DATA.len()
            )));
        }
    }
    Ok(columns.finish())
}

/// The natural key of a returned or selected row, from its key columns by name.
fn read_key<T: UploadTable>(result: &QueryResult) -> Result<String, DbErr> {
    let parts: Vec<String> = T::KEY
        .iter()
        .map(|column| result.try_get::<String>("", &column.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(natural_key(&parts.iter().map(String::as_str).collect::<Vec<_>>()))
}
