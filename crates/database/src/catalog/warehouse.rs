//! Warehouses and their locations in the `catalog` schema (Warehouse Upload).

mod location_batch;

use std::collections::HashSet;

use bgjobs_domain::AccountId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::entities::{warehouse_locations, warehouses};
use crate::{CatalogStore, Error};

/// A warehouse location as an upload writes it (validated by the domain's location
/// rules); also what [`CatalogStore::get_location`] returns.
pub use bgjobs_domain::upload::location::{Location, LocationType};

impl CatalogStore {
    /// Makes sure `warehouse_id` exists for `account`; an existing warehouse keeps its name.
    pub async fn ensure_warehouse(
        &self,
        account: &AccountId,
        warehouse_id: &str,
        name: &str,
    ) -> Result<(), Error> {
        let warehouse = warehouses::ActiveModel {
            account_id: Set(account.as_str().to_owned()),
            warehouse_id: Set(warehouse_id.to_owned()),
            name: Set(name.to_owned()),
            created_at: NotSet,
        };
        warehouses::Entity::insert(warehouse)
            .on_conflict(
                OnConflict::columns([
                    warehouses::Column::AccountId,
                    warehouses::Column::WarehouseId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .do_nothing()
            .exec(&self.connection)
            .await?;
        Ok(())
    }

    /// The references of every warehouse of `account`: an upload checks its rows
    /// against this set instead of querying row by row.
    pub async fn warehouse_ids(&self, account: &AccountId) -> Result<HashSet<String>, Error> {
        let ids = warehouses::Entity::find()
            .select_only()
            .column(warehouses::Column::WarehouseId)
            .filter(warehouses::Column::AccountId.eq(account.as_str()))
            .into_tuple::<String>()
            .all(&self.connection)
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// True when `warehouse_id` exists for `account`.
    pub async fn warehouse_exists(
        &self,
        account: &AccountId,
        warehouse_id: &str,
    ) -> Result<bool, Error> {
        let found =
            warehouses::Entity::find_by_id((account.as_str().to_owned(), warehouse_id.to_owned()))
                .select_only()
                .column(warehouses::Column::WarehouseId)
                .into_tuple::<String>()
                .one(&self.connection)
                .await?;
        Ok(found.is_some())
    }

    /// How many locations warehouse `warehouse_id` of `account` has.
    pub async fn count_locations(
        &self,
        account: &AccountId,
        warehouse_id: &str,
    ) -> Result<u64, Error> {
        let count = warehouse_locations::Entity::find()
            .filter(warehouse_locations::Column::AccountId.eq(account.as_str()))
            .filter(warehouse_locations::Column::WarehouseId.eq(warehouse_id))
            .count(&self.connection)
            .await?;
        Ok(count)
    }

    /// The location `location_code` of warehouse `warehouse_id` of `account`, if it exists.
    pub async fn get_location(
        &self,
        account: &AccountId,
        warehouse_id: &str,
        location_code: &str,
    ) -> Result<Option<Location>, Error> {
        let key = (account.as_str().to_owned(), warehouse_id.to_owned(), location_code.to_owned());
        let Some(row) = warehouse_locations::Entity::find_by_id(key).one(&self.connection).await?
        else {
            return Ok(None);
        };
        let location_type = match row.location_type.as_deref() {
            None => None,
            Some(name) => Some(
                LocationType::parse(name)
                    .ok_or_else(|| Error::Corrupt(format!("location_type is '{name}'")))?,
            ),
        };
        let capacity = row
            .capacity
            .map(|value| {
                u32::try_from(value).map_err(|_| Error::Corrupt(format!("capacity is {value}")))
            })
            .transpose()?;
        Ok(Some(Location {
            warehouse_id: row.warehouse_id,
            location_code: row.location_code,
            zone: row.zone,
            aisle: row.aisle,
            bay: row.bay,
            level: row.level,
            location_type,
            pickable: row.pickable,
            capacity,
        }))
    }
}
