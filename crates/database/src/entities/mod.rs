//! sea-orm entities, one per table. They mirror the migrations column for column and
//! stay internal: the public API speaks domain types.

pub(crate) mod clients;
pub(crate) mod job_checkpoints;
pub(crate) mod job_events;
pub(crate) mod jobs;
pub(crate) mod products;
pub(crate) mod warehouse_locations;
pub(crate) mod warehouses;
