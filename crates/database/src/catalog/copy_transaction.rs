//! A batch's transaction held on a connection of the driver's pool itself, so that it
//! can send rows with `COPY`, which the ORM's transactions do not offer. Statements
//! run on it as on the ORM's transactions (it implements [`ConnectionTrait`]), with
//! errors reported in the same form, so callers cannot tell the two apart.

use sea_orm::sqlx::postgres::{PgQueryResult, PgRow};
use sea_orm::sqlx::{self, Executor, Postgres};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement, Values,
};
use sea_query_binder::SqlxValues;
use tokio::sync::Mutex;

/// An open transaction on one connection of the pool; rolled back when dropped
/// uncommitted.
pub(crate) struct CopyTransaction {
    // Statements take the connection mutably; the ORM's interface lends it by shared
    // reference, and a batch runs its statements one at a time.
    transaction: Mutex<sqlx::Transaction<'static, Postgres>>,
}

impl CopyTransaction {
    /// Begins a transaction on a connection of `connection`'s pool.
    pub(crate) async fn begin(connection: &DatabaseConnection) -> Result<Self, DbErr> {
        let transaction = connection.get_postgres_connection_pool().begin().await.map_err(
            |error| match error {
                sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
                sqlx::Error::PoolClosed => {
                    DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
                }
                other => DbErr::Conn(RuntimeErr::SqlxError(other)),
            },
        )?;
        Ok(Self { transaction: Mutex::new(transaction) })
    }

    /// Commits the transaction.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.transaction.into_inner().commit().await.map_err(exec_error)
    }

    /// Runs `copy` (a `COPY … FROM STDIN` in text format) with `data` as its input;
    /// returns the rows copied. On an error the statement has failed as a whole.
    pub(crate) async fn copy_in(&self, copy: &str, data: &[u8]) -> Result<u64, DbErr> {
        let mut transaction = self.transaction.lock().await;
        let mut sink = transaction.copy_in_raw(copy).await.map_err(exec_error)?;
        // The server reads the rows as they come and answers once they end: an error
        // in the data (a key that exists) comes from `finish`, one in sending them
        // (the connection lost) from `send`.
        sink.send(data).await.map_err(exec_error)?;
        sink.finish().await.map_err(exec_error)
    }
}

fn exec_error(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(error))
}

fn query_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(error))
}

/// The statement as the driver's query, with its values bound as the ORM binds them.
fn query(statement: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = statement.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(&statement.sql, SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for CopyTransaction {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let mut transaction = self.transaction.lock().await;
        let done: PgQueryResult =
            query(&statement).execute(&mut **transaction).await.map_err(exec_error)?;
        Ok(done.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut transaction = self.transaction.lock().await;
        let done: PgQueryResult = (&mut **transaction).execute(sql).await.map_err(exec_error)?;
        Ok(done.into())
    }

    async fn query_one(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut transaction = self.transaction.lock().await;
        let row: Option<PgRow> =
            query(&statement).fetch_optional(&mut **transaction).await.map_err(query_error)?;
        Ok(row.map(QueryResult::from))
    }

    async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut transaction = self.transaction.lock().await;
        let rows: Vec<PgRow> =
            query(&statement).fetch_all(&mut **transaction).await.map_err(query_error)?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }
}
