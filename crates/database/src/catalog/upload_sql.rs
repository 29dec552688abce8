//! The set-based statements of an upload batch: a batch travels as one array per
//! column (`unnest`), so a statement has the same few parameters and the same plan
//! whatever the batch size, instead of one bind parameter per value.
//!
//! Each array is sent as the text of an array literal (see [`ArrayLiteral`]) and cast
//! in the statement to an array of its column's type, NULLs included.

use std::collections::HashSet;

use bgjobs_domain::JobId;
use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use sea_orm::sea_query::{ColumnType, StringLen};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityName, Iden, QueryResult,
    SqlErr, Statement, Value,
};

use super::array_literal::{ArrayLiteral, DataColumns};
use super::upload_batch::{Column, UploadTable, natural_key};
use super::upload_keys::DeferredKeys;
use crate::Error;

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

/// `<alias>.k0 COLLATE "C", ...`: the key parts of `alias` in byte order, the one order
/// every writer locks rows in. It is the order of the key's last column in its index,
/// and sorting by bytes spares the locale's string comparison.
fn key_order<T: UploadTable>(alias: &str) -> String {
    (0..T::KEY.len())
        .map(|part| format!("{alias}.k{part} COLLATE \"C\""))
        .collect::<Vec<_>>()
        .join(", ")
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
///
/// Each key is looked up on its own (a lateral subquery the planner keeps apart),
/// through the primary key: joined as a whole, the planner may read every row of the
/// scope instead, as it did right after a large import whose table had not yet been
/// analysed (half a second per batch of 2,000 keys among a million rows, against 10 ms).
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
    let mut selected = Vec::with_capacity(T::KEY.len());
    let values = key_arrays(T::KEY.len(), keys.iter().cloned());
    for ((part, column), values) in T::KEY.iter().enumerate().zip(values) {
        probes.push(format!("{}::text[]", parameters.add(values)));
        let column = column_name::<T>(*column);
        conditions.push(format!("stored.{column} = probe.k{part}"));
        selected.push(format!("stored.{column}"));
    }
    let names: Vec<String> = (0..T::KEY.len()).map(|part| format!("k{part}")).collect();
    // Probes in key order, so that rows are locked in the order other writers lock them.
    // A locking clause keeps the subquery apart from the join; OFFSET 0 does without.
    let sql = format!(
        "SELECT found.* FROM (SELECT * FROM unnest({probes}) AS probe ({names}) \
         ORDER BY {order}) AS probe \
         CROSS JOIN LATERAL (SELECT {selected} FROM {table} AS stored WHERE {conditions} \
         {apart}) AS found",
        probes = probes.join(", "),
        order = key_order::<T>("probe"),
        names = names.join(", "),
        selected = selected.join(", "),
        table = table_name::<T>(),
        conditions = conditions.join(" AND "),
        apart = if lock { "FOR UPDATE" } else { "OFFSET 0" },
    );
    let found = connection.query_all(parameters.statement(connection, sql)).await?;
    found.iter().map(read_key::<T>).collect::<Result<_, _>>().map_err(Error::from)
}

/// The `INSERT INTO <table> AS stored (...) SELECT ... FROM unnest(...) AS input (...)
/// ORDER BY <key>` of `rows` (distinct keys, in key order) for `job`, with its
/// parameters, the job's placeholder and the primary key's columns.
struct InsertSelect {
    sql: String,
    parameters: Parameters,
    job: String,
    conflict: Vec<String>,
}

impl InsertSelect {
    fn new<T: UploadTable>(table: &T, job: JobId, rows: &[(&str, &T::Row)]) -> Result<Self, Error> {
        let mut parameters = Parameters::default();
        let mut columns = Vec::new();
        let mut selected = Vec::new();
        for (column, value) in table.scope() {
            columns.push(column_name::<T>(column));
            selected.push(parameters.add(value));
        }
        let job = parameters.add(job.as_uuid());
        let mut arrays = Vec::new();
        let mut names = Vec::new();
        let keys = key_arrays(T::KEY.len(), rows.iter().map(|(_, row)| T::key_parts(row)));
        for (part, values) in keys.into_iter().enumerate() {
            arrays.push(format!("{}::text[]", parameters.add(values)));
            names.push(format!("k{part}"));
            columns.push(column_name::<T>(T::KEY[part]));
            selected.push(format!("input.k{part}"));
        }
        // The scope and key columns: the table's primary key.
        let conflict = columns.clone();
        for (index, (column, values)) in T::DATA.iter().zip(data_arrays::<T>(rows)?).enumerate() {
            arrays.push(format!("{}::{}[]", parameters.add(values), sql_type::<T>(*column)?));
            names.push(format!("d{index}"));
            columns.push(column_name::<T>(*column));
            selected.push(format!("input.d{index}"));
        }
        columns.push(column_name::<T>(T::LAST_JOB_ID));
        selected.push(job.clone());
        let sql = format!(
            "INSERT INTO {table} AS stored ({columns}) \
             SELECT {selected} FROM unnest({arrays}) AS input ({names}) ORDER BY {keys}",
            table = table_name::<T>(),
            columns = columns.join(", "),
            selected = selected.join(", "),
            arrays = arrays.join(", "),
            names = names.join(", "),
            keys = key_order::<T>("input"),
        );
        Ok(Self { sql, parameters, job, conflict })
    }
}

/// Inserts `rows` (distinct keys, in key order) as new rows of `job`, when none of
/// their keys exists, and records their keys as `deferred` in the same statement:
/// returns whether it did. A plain insert costs Postgres about a third less than
/// [`upsert`] (no conflict arbiter, nothing returned), but fails as a whole at the
/// first key that exists. That failure aborts `transaction`, which must then be rolled
/// back: the batch begins again and writes its rows through the upsert. No savepoint
/// guards the insert: such a batch rarely meets an existing key (a re-upload's first
/// batch, a batch repeating a key of an earlier one), and a savepoint would cost every
/// batch two more round trips.
pub(crate) async fn insert_new<T: UploadTable>(
    transaction: &DatabaseTransaction,
    table: &T,
    job: JobId,
    rows: &[(&str, &T::Row)],
    deferred: DeferredKeys,
) -> Result<bool, Error> {
    if rows.is_empty() {
        return Ok(true);
    }
    let InsertSelect { sql, mut parameters, job, .. } = InsertSelect::new(table, job, rows)?;
    let [first_row, keys, key_rows] = deferred.into_values()?;
    let sql = format!(
        "WITH deferred_keys AS (INSERT INTO catalog.upload_key_batches \
         (job_id, first_row, natural_keys, first_rows) \
         VALUES ({job}, {first_row}, {keys}::text[], {key_rows}::bigint[])) {sql}",
        first_row = parameters.add(first_row),
        keys = parameters.add(keys),
        key_rows = parameters.add(key_rows),
    );
    match transaction.execute(parameters.statement(transaction, sql)).await {
        Ok(_) => Ok(true),
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// One `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE ... WHERE <something
/// differs>` of `rows` (distinct keys, in key order), returning the written keys. For
/// create-only the update also needs the existing row to be this job's own (see
/// [`Writer::NotThisJob`]): another job's row is left alone.
///
/// Rows that differ in nothing are skipped by the WHERE and return no row (they are
/// unchanged); of the returned rows, `xmax = 0` marks the freshly inserted ones (an
/// updated row version carries the updating transaction).
pub(crate) async fn upsert<T: UploadTable>(
    transaction: &impl ConnectionTrait,
    table: &T,
    job: JobId,
    rows: &[(&str, &T::Row)],
    write: WriteMode,
) -> Result<Vec<(String, RowOutcome)>, Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let InsertSelect { sql: insert, parameters, job: job_parameter, conflict } =
        InsertSelect::new(table, job, rows)?;
    let data: Vec<String> = T::DATA.iter().map(|column| column_name::<T>(*column)).collect();
    let mut updates: Vec<String> = data
        .iter()
        .chain([&column_name::<T>(T::LAST_JOB_ID)])
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    updates.push(format!("{} = now()", column_name::<T>(T::UPDATED_AT)));
    let current: Vec<String> = data.iter().map(|column| format!("stored.{column}")).collect();
    let proposed: Vec<String> = data.iter().map(|column| format!("excluded.{column}")).collect();
    let mut update_when =
        format!("({}) IS DISTINCT FROM ({})", current.join(", "), proposed.join(", "));
    if write == WriteMode::CreateOnly {
        let last_job = column_name::<T>(T::LAST_JOB_ID);
        update_when = format!("stored.{last_job} = {job_parameter} AND {update_when}");
    }
    let returned: Vec<String> =
        T::KEY.iter().map(|column| format!("stored.{}", column_name::<T>(*column))).collect();
    let sql = format!(
        "{insert} ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {update_when} \
         RETURNING {returned}, (stored.xmax = 0) AS inserted",
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
