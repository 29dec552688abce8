//! `catalog.warehouse_locations`: the storage locations of a warehouse.

use sea_orm::entity::prelude::*;

/// A row of `catalog.warehouse_locations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "catalog", table_name = "warehouse_locations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub warehouse_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub location_code: String,
    pub zone: Option<String>,
    pub aisle: Option<String>,
    pub bay: Option<String>,
    pub level: Option<String>,
    pub location_type: Option<String>,
    pub pickable: Option<bool>,
    pub capacity: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_job_id: Option<Uuid>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
