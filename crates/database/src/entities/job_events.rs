//! `jobs.job_events`: the message log, one row per received event.

use sea_orm::entity::prelude::*;

/// A row of `jobs.job_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "jobs", table_name = "job_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
    pub job_id: Uuid,
    pub account_id: String,
    pub attempt: i32,
    pub delivery: i32,
    pub sequence: i64,
    pub kind: String,
    pub message: String,
    pub status_before: String,
    pub status_after: String,
    pub ignored: bool,
    pub ignore_reason: Option<String>,
    pub actor: String,
    pub rows_total: Option<i64>,
    pub rows_processed: Option<i64>,
    pub rows_rejected: Option<i64>,
    pub occurred_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub held: bool,
    pub result_object_key: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
