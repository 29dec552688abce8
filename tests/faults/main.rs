//! The fault-injection suite (issue 4): real services and real consumer processes on
//! loopback, with one fault injected per scenario. Every scenario proves the same four
//! invariants ([`bgjobs_e2e::invariants`]): every submitted job reaches Completed or
//! Error, the catalogue equals what a fault-free run of the same file produces, no
//! message log shows an illegal state transition, and no row is applied twice.
//!
//! Run it with `make faults` (`cargo test -p bgjobs-e2e --test faults`); each scenario
//! prints its seed (where it has one) and its timings. What each scenario does and
//! what it measured is in docs/fault-injection.md.
