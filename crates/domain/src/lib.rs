//! Stockade's domain core: money, quantities, catalog, compliance rules, pricing and inventory math.
//!
//! Invariant: this crate does no I/O, spawns nothing and reads no clock. Dates come in as arguments.

pub mod catalog;
pub mod compliance;
pub mod inventory;
pub mod money;
pub mod pricing;
pub mod quantity;
pub mod rules;
