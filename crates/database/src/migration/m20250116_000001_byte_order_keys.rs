//! The last column of each catalog key, and the upload key claims, compare their bytes
//! whatever the database's locale.

/// Gives `catalog.products.sku`, `catalog.warehouse_locations.location_code` and
/// `catalog.upload_keys.natural_key` the `"C"` collation.
pub(crate) const UP: &str = r#"
-- Keys are looked up, claimed and locked by equality and kept in btree order; nothing
-- reads them sorted for people. Under a locale's collation each comparison of two
-- different strings in those indexes goes through the locale's string comparison;
-- under "C" it compares bytes. Equality is the same either way: a deterministic
-- collation calls two strings equal only when their bytes are. The account, client
-- and warehouse columns before these in each key are left as they are: within a batch
-- they are equal, and equal strings are told apart by their bytes under any collation.
-- Changing a column's collation keeps its data and rebuilds the indexes on it.
ALTER TABLE catalog.products ALTER COLUMN sku TYPE text COLLATE "C";
ALTER TABLE catalog.warehouse_locations ALTER COLUMN location_code TYPE text COLLATE "C";
ALTER TABLE catalog.upload_keys ALTER COLUMN natural_key TYPE text COLLATE "C";
"#;

/// Undoes [`UP`]: the columns take the database's collation again.
pub(crate) const DOWN: &str = r#"
ALTER TABLE catalog.upload_keys ALTER COLUMN natural_key TYPE text COLLATE "default";
ALTER TABLE catalog.warehouse_locations ALTER COLUMN location_code TYPE text COLLATE "default";
ALTER TABLE catalog.products ALTER COLUMN sku TYPE text COLLATE "default";
"#;
