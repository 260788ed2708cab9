//! HQ conformance suite: every test runs on SQLite and, when `STOCKADE_TEST_POSTGRES` names a
//! server (always in CI), on PostgreSQL with a database of its own.

mod access;
mod drill;
mod export;
mod fixture;
mod from_stores;
mod ingest;
mod registry;
mod replenish;
mod rollout;
