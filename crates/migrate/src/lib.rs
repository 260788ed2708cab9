//! Schema migrations as data: an ordered list of numbered SQL scripts, each identified by its
//! version and the SHA-256 of its text, and the plan that takes a database from the versions it
//! has applied to the newest this release knows. This crate executes nothing: `store` and `hq`
//! run the plan inside their own transactions (they alone know SQL connections).
//!
//! Rules (see `ARCHITECTURE.md`, "Migrations"):
//! * a released migration's text never changes (its checksum is recorded when applied and
//!   checked at every open);
//! * versions are consecutive from 1; a new schema change is a new file with the next number;
//! * a database with a version newer than this release knows is refused, naming both versions.

#![forbid(unsafe_code)]

use sha2::{Digest, Sha256};

/// One numbered migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub const fn new(version: i64, name: &'static str, sql: &'static str) -> Migration {
        Migration { version, name, sql }
    }
    /// SHA-256 of the script's text, hex.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// A migration recorded as applied in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the database has schema version {found} but this release of stockade knows versions up to {known}: run the newer release (or restore a backup made before the upgrade)")]
    TooNew { found: i64, known: i64 },
    #[error("migration {version} applied to this database differs from this release's migration {version} (checksum {found} vs {expected}): a released migration was edited")]
    Edited { version: i64, found: String, expected: String },
    #[error("the database records migrations {versions:?}: versions must run from 1 without gaps")]
    Gap { versions: Vec<i64> },
    #[error("this release's migration list is not numbered 1, 2, 3, …")]
    BadList,
}

/// The newest version in `known`.
pub fn latest(known: &[Migration]) -> i64 {
    known.last().map(|m| m.version).unwrap_or(0)
}

/// The migrations to apply, in order, to a database that has applied `applied`.
pub fn plan<'a>(applied: &[Applied], known: &'a [Migration]) -> Result<Vec<&'a Migration>, PlanError> {
    if known.iter().enumerate().any(|(i, m)| m.version != i as i64 + 1) {
        return Err(PlanError::BadList);
    }
    let mut versions: Vec<i64> = applied.iter().map(|a| a.version).collect();
    versions.sort_unstable();
    if versions.iter().enumerate().any(|(i, v)| *v != i as i64 + 1) {
        return Err(PlanError::Gap { versions });
    }
    let found = versions.last().copied().unwrap_or(0);
    let newest = latest(known);
    if found > newest {
        return Err(PlanError::TooNew { found, known: newest });
    }
    for a in applied {
        let m = &known[(a.version - 1) as usize];
        let expected = m.checksum();
        if a.checksum != expected {
            return Err(PlanError::Edited { version: a.version, found: a.checksum.clone(), expected });
        }
    }
    Ok(known.iter().filter(|m| m.version > found).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[Migration] = &[Migration::new(1, "initial", "CREATE TABLE a (x INTEGER);"), Migration::new(2, "more", "CREATE TABLE b (y INTEGER);")];

    fn applied(n: i64) -> Vec<Applied> {
        LIST[..n as usize].iter().map(|m| Applied { version: m.version, checksum: m.checksum() }).collect()
    }

    #[test]
    fn a_fresh_database_gets_everything_and_an_up_to_date_one_nothing() {
        assert_eq!(plan(&[], LIST).unwrap().iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(plan(&applied(1), LIST).unwrap().iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
        assert!(plan(&applied(2), LIST).unwrap().is_empty());
    }

    #[test]
    fn a_newer_database_is_refused_naming_both_versions() {
        let mut a = applied(2);
        a.push(Applied { version: 3, checksum: "x".into() });
        let e = plan(&a, LIST).unwrap_err();
        assert_eq!(e, PlanError::TooNew { found: 3, known: 2 });
        assert!(e.to_string().contains("schema version 3") && e.to_string().contains("up to 2"), "{e}");
    }

    #[test]
    fn an_edited_migration_and_gaps_are_refused() {
        let mut a = applied(1);
        a[0].checksum = "0".repeat(64);
        assert!(matches!(plan(&a, LIST), Err(PlanError::Edited { version: 1, .. })));
        assert!(matches!(plan(&[Applied { version: 2, checksum: LIST[1].checksum() }], LIST), Err(PlanError::Gap { .. })));
        let bad = [Migration::new(2, "x", "")];
        assert_eq!(plan(&[], &bad), Err(PlanError::BadList));
    }
}
