//! The `catalog` schema: clients, products, and what upload jobs claimed and committed.

mod array_literal;
mod batch_chain;
mod checkpoint;
pub mod delete_client;
pub(crate) mod fence;
mod product_batch;
mod upload_batch;
mod upload_keys;
mod upload_sql;
pub mod warehouse;

use bgjobs_domain::AccountId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::entities::{clients, products};
use crate::{CatalogStore, Error};

pub use batch_chain::{BatchChain, BatchTurn};
/// A product as an upload writes it (validated by the domain's product rules);
/// also what [`CatalogStore::get_product`] returns.
pub use bgjobs_domain::upload::product::Product;
/// What an upload may write, and what became of each row.
pub use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
pub use checkpoint::Checkpoint;

/// What one batch did to the products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Products that did not exist.
    pub created: u64,
    /// Products that existed with different values.
    pub updated: u64,
    /// Products that already had exactly these values.
    pub unchanged: u64,
}

/// What one batch did, row by row: the outcome of every row in input order, and
/// the counts of those outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedBatch {
    /// Created, updated and unchanged rows.
    pub counts: BatchOutcome,
    /// Rows not written: refused by the write mode (create-only: key exists;
    /// update-only: key unknown) or duplicates of an earlier row of the upload.
    pub refused: u64,
    /// Each input row's outcome, in input order.
    pub rows: Vec<RowOutcome>,
}

impl AppliedBatch {
    /// Counts `rows` into an applied batch.
    pub fn from_rows(rows: Vec<RowOutcome>) -> Self {
        let mut applied = Self::default();
        for outcome in &rows {
            match outcome {
                RowOutcome::Created => applied.counts.created += 1,
                RowOutcome::Updated => applied.counts.updated += 1,
                RowOutcome::Unchanged => applied.counts.unchanged += 1,
                RowOutcome::AlreadyExists
                | RowOutcome::DoesNotExist
                | RowOutcome::Duplicate { .. } => applied.refused += 1,
            }
        }
        applied.rows = rows;
        applied
    }

    /// Whether every row of the batch that was not a duplicate was created: none
    /// existed already.
    pub(crate) fn only_created(&self) -> bool {
        self.rows
            .iter()
            .all(|outcome| matches!(outcome, RowOutcome::Created | RowOutcome::Duplicate { .. }))
    }
}

impl CatalogStore {
    /// Makes sure `client_id` exists for `account`; an existing client keeps its name.
    pub async fn ensure_client(
        &self,
        account: &AccountId,
        client_id: &str,
        name: &str,
    ) -> Result<(), Error> {
        let client = clients::ActiveModel {
            account_id: Set(account.as_str().to_owned()),
            client_id: Set(client_id.to_owned()),
            name: Set(name.to_owned()),
        };
        clients::Entity::insert(client)
            .on_conflict(
                OnConflict::columns([clients::Column::AccountId, clients::Column::ClientId])
                    .do_nothing()
                    .to_owned(),
            )
            .do_nothing()
            .exec(&self.connection)
            .await?;
        Ok(())
    }

    /// True when `client_id` exists for `account`.
    pub async fn client_exists(&self, account: &AccountId, client_id: &str) -> Result<bool, Error> {
        let found =
            clients::Entity::find_by_id((account.as_str().to_owned(), client_id.to_owned()))
                .select_only()
                .column(clients::Column::ClientId)
                .into_tuple::<String>()
                .one(&self.connection)
                .await?;
        Ok(found.is_some())
    }

    /// The name of `client_id` of `account`, or None when there is no such client.
    pub async fn client_name(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> Result<Option<String>, Error> {
        let name = clients::Entity::find_by_id((account.as_str().to_owned(), client_id.to_owned()))
            .select_only()
            .column(clients::Column::Name)
            .into_tuple::<String>()
            .one(&self.connection)
            .await?;
        Ok(name)
    }

    /// How many products `client_id` of `account` has.
    pub async fn count_products(&self, account: &AccountId, client_id: &str) -> Result<u64, Error> {
        let count = products::Entity::find()
            .filter(products::Column::AccountId.eq(account.as_str()))
            .filter(products::Column::ClientId.eq(client_id))
            .count(&self.connection)
            .await?;
        Ok(count)
    }

    /// The product `sku` of `client_id` of `account`, if it exists.
    pub async fn get_product(
        &self,
        account: &AccountId,
        client_id: &str,
        sku: &str,
    ) -> Result<Option<Product>, Error> {
        let key = (account.as_str().to_owned(), client_id.to_owned(), sku.to_owned());
        let product = products::Entity::find_by_id(key).one(&self.connection).await?;
        Ok(product.map(|row| Product {
            sku: row.sku,
            name: row.name,
            description: row.description,
            barcode: row.barcode,
            weight_kg: row.weight_kg,
            length_cm: row.length_cm,
            width_cm: row.width_cm,
            height_cm: row.height_cm,
            price: row.price,
            hs_code: row.hs_code,
            country_of_origin: row.country_of_origin,
        }))
    }
}
