//! The store node: the dispensary's own source of truth, on one SQLite file.
//!
//! * `node` — opening, the writer thread (group commit), the read pool.
//! * `apply` — projections from journal events (the only writer of projection tables).
//! * `commands` / `queries` — use cases; `auth` — staff and sessions.
//! * `verify` — replay and compare; `import` — catalog CSV; `simulate` — random valid sales.
//!
//! Invariant: only this crate (and, later, the HQ storage crates) knows SQL.

#![forbid(unsafe_code)]

pub mod apply;
pub mod auth;
pub mod cart;
pub mod checkout;
pub mod clock;
pub mod commands;
pub mod customers;
pub mod error;
pub mod evidence;
pub mod hashing;
pub mod import;
pub mod integrity;
pub mod migrate;
pub mod node;
pub mod orders;
pub mod queries;
pub mod repair;
pub mod schema;
pub mod signin;
pub mod simulate;
pub mod sync;
pub mod verify;

pub use auth::Actor;
pub use error::StoreError;
pub use node::{InitOptions, Store, StoreInfo};
