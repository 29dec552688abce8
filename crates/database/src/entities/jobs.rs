//! `jobs.jobs`: one row per job, its current state.

use sea_orm::entity::prelude::*;

/// A row of `jobs.jobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(schema_name = "jobs", table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: Uuid,
    pub account_id: String,
    pub job_type: String,
    pub status: String,
    pub attempt: i32,
    pub message: String,
    pub input_object_key: Option<String>,
    pub result_object_key: Option<String>,
    pub original_file_name: Option<String>,
    pub parameters: Json,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub warehouse_id: Option<String>,
    pub rows_total: i64,
    pub rows_processed: i64,
    pub rows_rejected: i64,
    pub last_attempt: Option<i32>,
    pub last_delivery: Option<i32>,
    pub last_sequence: Option<i64>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_by: String,
    pub updated_at: DateTimeUtc,
    pub published_attempt: Option<i32>,
    pub notify_email: Option<String>,
    pub notify_time_zone: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
