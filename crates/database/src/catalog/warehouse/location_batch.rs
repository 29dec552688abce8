//! Writing a batch of warehouse locations, with the job's key claims and checkpoint.

use std::collections::HashSet;

use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use sea_orm::Value;

use super::Location;
use crate::catalog::array_literal::DataColumns;
use crate::catalog::upload_batch::{self, Column, UploadTable, natural_key};
use crate::catalog::{AppliedBatch, BatchChain, BatchTurn, Checkpoint};
use crate::entities::warehouse_locations;
use crate::{CatalogStore, Error};

/// The locations of every warehouse of one account (each row names its warehouse).
struct Locations<'a> {
    account: &'a AccountId,
}

impl UploadTable for Locations<'_> {
    type Entity = warehouse_locations::Entity;
    type Row = Location;
    const KEY: &'static [Column<Self>] =
        &[warehouse_locations::Column::WarehouseId, warehouse_locations::Column::LocationCode];
    const DATA: &'static [Column<Self>] = &[
        warehouse_locations::Column::Zone,
        warehouse_locations::Column::Aisle,
        warehouse_locations::Column::Bay,
        warehouse_locations::Column::Level,
        warehouse_locations::Column::LocationType,
        warehouse_locations::Column::Pickable,
        warehouse_locations::Column::Capacity,
    ];
    const LAST_JOB_ID: Column<Self> = warehouse_locations::Column::LastJobId;
    const UPDATED_AT: Column<Self> = warehouse_locations::Column::UpdatedAt;

    fn scope(&self) -> Vec<(Column<Self>, Value)> {
        vec![(warehouse_locations::Column::AccountId, self.account.as_str().into())]
    }

    fn key_parts(row: &Location) -> Vec<&str> {
        vec![row.warehouse_id.as_str(), row.location_code.as_str()]
    }

    fn write_data(row: &Location, columns: &mut DataColumns) {
        columns.text(row.zone.as_deref());
        columns.text(row.aisle.as_deref());
        columns.text(row.bay.as_deref());
        columns.text(row.level.as_deref());
        columns.text(row.location_type.map(|kind| kind.as_str()));
        columns.display(row.pickable);
        columns.display(row.capacity);
    }
}

impl CatalogStore {
    /// Writes a batch of locations of `account` (each row names its warehouse) for
    /// upload job `job`, in one transaction with the job's key claims and checkpoint:
    /// either all of it is committed or none of it.
    ///
    /// `rows` are `(1-based input row number, location)`. Every row claims its
    /// (warehouse, location code) for the job; a row whose key an earlier row claimed
    /// (in this batch or a committed one) is [`RowOutcome::Duplicate`] and not written.
    /// The others are written under `write`, as [`CatalogStore::apply_product_batch_as`]
    /// describes. A warehouse that does not exist in the account is a
    /// [`Error::Database`] foreign-key violation that rolls back the whole batch, its
    /// claims included: validation must reject such rows first. Refused, writing
    /// nothing, once the checkpoint's attempt of the job is superseded
    /// ([`Error::Superseded`]).
    pub async fn apply_location_batch_as(
        &self,
        job: JobId,
        account: &AccountId,
        rows: &[(u64, Location)],
        write: WriteMode,
        after: &Checkpoint,
    ) -> Result<AppliedBatch, Error> {
        let turn = BatchChain::starting_at(*after).next(after.rows_committed, 0);
        self.apply_location_batch_in_turn(job, account, rows, write, turn).await
    }

    /// [`CatalogStore::apply_location_batch_as`] for one of several batches of a pass
    /// written side by side: the batch begins and records its checkpoint in `turn`,
    /// adding its counts to the totals the batch before it committed.
    pub async fn apply_location_batch_in_turn(
        &self,
        job: JobId,
        account: &AccountId,
        rows: &[(u64, Location)],
        write: WriteMode,
        turn: BatchTurn,
    ) -> Result<AppliedBatch, Error> {
        let rows: Vec<(u64, &Location)> = rows.iter().map(|(number, row)| (*number, row)).collect();
        let table = Locations { account };
        upload_batch::apply_batch(&self.connection, &table, job, &rows, write, turn).await
    }

    /// The validation pass of an all-or-nothing location upload: claims every row's key
    /// for `job` exactly as [`CatalogStore::apply_location_batch_as`] does (committed, with no
    /// checkpoint and no location written) and returns per row `None` if it would be
    /// written, or the refusal it would get (duplicate, or refused by `write`).
    /// Refused once `attempt` is superseded ([`Error::Superseded`]).
    pub async fn check_location_batch(
        &self,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        rows: &[(u64, Location)],
        write: WriteMode,
    ) -> Result<Vec<Option<RowOutcome>>, Error> {
        let rows: Vec<(u64, &Location)> = rows.iter().map(|(number, row)| (*number, row)).collect();
        let table = Locations { account };
        upload_batch::check_batch(&self.connection, &table, job, attempt, &rows, write).await
    }

    /// The (warehouse, location code) pairs among `keys` that exist in `account`.
    pub async fn existing_locations(
        &self,
        account: &AccountId,
        keys: &[(String, String)],
    ) -> Result<HashSet<(String, String)>, Error> {
        let parts: Vec<Vec<&str>> =
            keys.iter().map(|(warehouse, code)| vec![warehouse.as_str(), code.as_str()]).collect();
        let found =
            upload_batch::existing_keys(&self.connection, &Locations { account }, &parts).await?;
        Ok(keys
            .iter()
            .filter(|(warehouse, code)| found.contains(&natural_key(&[warehouse, code])))
            .cloned()
            .collect())
    }
}
