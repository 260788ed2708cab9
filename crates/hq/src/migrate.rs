//! Schema migrations of HQ's database (SQLite or PostgreSQL, one list of scripts in the neutral
//! dialect of `db.rs`), and reprojection of stores' derived rows.
//!
//! On every open (and by `stockade hq migrate`): read `schema_migrations`, plan with
//! [`stockade_migrate::plan`] (a newer database is refused, naming both versions); when there is
//! something to apply to a database that holds HQ's journal, first write a checked backup into
//! `HQDIR/backups/`: on SQLite a copy of the whole file (online backup, fsynced, quick-checked, same
//! journal); on PostgreSQL HQ's journal backup (the registry; the stores hold their own journals),
//! since the database server is backed up by its operator. Then every pending script runs in one
//! transaction — PostgreSQL and SQLite both roll DDL back, so a failed migration changes nothing.
//! A release-1 database (no `schema_migrations`) is at version 0; migration 1 is its own schema
//! with `IF NOT EXISTS`, a no-op there.
//!
//! After the scripts, stores whose derived rows hold a figure out of range (written before
//! checked arithmetic) or whose unprojected entries this release can now apply are reprojected.

use crate::db::{Db, Tx};
use crate::project::{self, StoreCtx};
use crate::schema::MIGRATIONS;
use crate::HqError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use stockade_journal::Envelope;
use stockade_migrate::{plan, Applied, PlanError};

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub from_version: i64,
    pub to_version: i64,
    pub applied: Vec<(i64, String)>,
    pub backup: Option<PathBuf>,
    /// Stores whose derived rows were rebuilt from their entries.
    pub reprojected: Vec<String>,
}

fn plan_error(e: PlanError) -> HqError {
    match e {
        PlanError::TooNew { found, known } => HqError::SchemaTooNew { found, known },
        other => HqError::Corrupt(other.to_string()),
    }
}

const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";

/// The migrations recorded in the database.
pub fn applied(db: &Db) -> Result<Vec<Applied>, HqError> {
    let ddl = db.ddl(VERSIONS_TABLE);
    let rows = db.tx(|tx| -> Result<_, HqError> {
        lock(db, tx)?;
        tx.batch(&ddl)?;
        Ok(tx.query("SELECT version, checksum FROM schema_migrations ORDER BY version", &[])?)
    })?;
    Ok(rows.into_iter().map(|r| Applied { version: r[0].i().unwrap_or(0), checksum: r[1].show() }).collect())
}

/// The database's schema version (0: release 1, before versioning).
pub fn schema_version(db: &Db) -> Result<i64, HqError> {
    Ok(applied(db)?.iter().map(|a| a.version).max().unwrap_or(0))
}

/// The newest schema version this release knows.
pub fn latest_version() -> i64 {
    stockade_migrate::latest(MIGRATIONS)
}

/// Creates the newest schema in an empty database (in-memory replays, rebuild targets).
pub(crate) fn create_fresh(db: &Db) -> Result<(), HqError> {
    run(db, &[], 0).map(|_| ())
}

/// Brings `db` to the newest schema; `dir` is HQ's folder (for the backup). Cheap when up to date.
pub fn migrate(dir: &Path, db: &Db, now_ms: i64) -> Result<MigrationReport, HqError> {
    let done = applied(db)?;
    let from_version = done.iter().map(|a| a.version).max().unwrap_or(0);
    let todo = plan(&done, MIGRATIONS).map_err(plan_error)?;
    let mut backup = None;
    if !todo.is_empty() && holds_journal(db)? {
        backup = Some(backup_before(dir, db, from_version, now_ms)?);
    }
    let mut report = run(db, &done, now_ms)?;
    report.backup = backup;
    // Figures out of range can only come from a release before checked arithmetic (scanned once,
    // when migrating from it); entries an older release left out are looked up at every open.
    let scan = if report.applied.is_empty() { Scan::LeftOut } else { Scan::OutOfRangeAndLeftOut };
    report.reprojected = reproject(db, &[], scan)?;
    if !report.applied.is_empty() {
        tracing::info!(from = report.from_version, to = report.to_version, "HQ schema migrated");
    }
    Ok(report)
}

fn run(db: &Db, done: &[Applied], now_ms: i64) -> Result<MigrationReport, HqError> {
    let from_version = done.iter().map(|a| a.version).max().unwrap_or(0);
    let todo = plan(done, MIGRATIONS).map_err(plan_error)?;
    let mut report = MigrationReport { from_version, to_version: from_version, applied: vec![], backup: None, reprojected: vec![] };
    if todo.is_empty() {
        return Ok(report);
    }
    let versions = db.ddl(VERSIONS_TABLE);
    let scripts: Vec<(i64, &str, String, String)> = todo.iter().map(|m| (m.version, m.name, db.ddl(m.sql), m.checksum())).collect();
    let scripts = db.tx(|tx| {
        lock(db, tx)?;
        tx.batch(&versions)?;
        let done: Vec<i64> = tx.query("SELECT version FROM schema_migrations", &[])?.iter().filter_map(|r| r[0].i()).collect();
        let scripts: Vec<_> = scripts.into_iter().filter(|s| !done.contains(&s.0)).collect();
        for (version, name, sql, checksum) in &scripts {
            tx.batch(sql).map_err(|e| HqError::Io(format!("migration {version} ({name}) failed, nothing was changed: {e}")))?;
            tx.exec(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at_ms) VALUES ($1, $2, $3, $4)",
                &[(*version).into(), (*name).into(), checksum.into(), now_ms.into()],
            )?;
        }
        Ok::<_, HqError>(scripts)
    })?;
    for (version, name, _, _) in scripts {
        report.applied.push((version, name.to_string()));
        report.to_version = version;
    }
    Ok(report)
}

/// Several HQ processes may start together on one PostgreSQL: one creates the version table and
/// migrates, the others wait here and then find nothing left to do (SQLite's write lock does the
/// same). Held until the transaction ends.
fn lock(db: &Db, tx: &mut dyn Tx) -> Result<(), HqError> {
    if matches!(db, Db::Postgres(_)) {
        tx.query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7275630217)) AS locked", &[])?;
    }
    Ok(())
}

fn holds_journal(db: &Db) -> Result<bool, HqError> {
    // Release 1 created every table on open: a database without hq_journal is empty.
    let exists = match db {
        Db::Sqlite(_) => db.tx(|tx| tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hq_journal'", &[]))?.is_some(),
        Db::Postgres(_) => {
            db.tx(|tx| tx.one("SELECT 1 FROM information_schema.tables WHERE table_name = 'hq_journal' AND table_schema = current_schema()", &[]))?.is_some()
        }
    };
    Ok(exists && db.tx(|tx| tx.one("SELECT 1 FROM hq_journal LIMIT 1", &[]))?.is_some())
}

fn backup_before(dir: &Path, db: &Db, from_version: i64, now_ms: i64) -> Result<PathBuf, HqError> {
    let folder = dir.join("backups");
    std::fs::create_dir_all(&folder).map_err(|e| HqError::Io(format!("cannot create {}: {e}", folder.display())))?;
    let journal_head = |db: &Db| db.tx(|tx| tx.one("SELECT COUNT(*), MAX(seq) FROM hq_journal", &[]));
    match db {
        Db::Sqlite(_) => {
            let path = folder.join(format!("hq-schema-v{from_version}-{now_ms}.db"));
            let _ = std::fs::remove_file(&path);
            db.sqlite_copy_to(&path).map_err(|e| HqError::Io(format!("cannot write the pre-migration backup {}: {e}; nothing was changed", path.display())))?;
            let copy = Db::open_sqlite_read_only(&path)?;
            let ok = copy.tx(|tx| tx.one("PRAGMA quick_check", &[]))?.map(|r| r[0].show()) == Some("ok".into());
            if !ok || journal_head(&copy)? != journal_head(db)? {
                return Err(HqError::Io(format!("the pre-migration backup {} does not match the database; nothing was changed", path.display())));
            }
            Ok(path)
        }
        Db::Postgres(_) => {
            let path = folder.join(format!("hq-journal-schema-v{from_version}-{now_ms}.backup"));
            let bytes = crate::rebuild::backup_hq_journal_of(db, now_ms)?;
            let decoded = stockade_journal::backup::decode(&String::from_utf8_lossy(&bytes))
                .map_err(|e| HqError::Io(format!("the pre-migration backup does not read back: {e}")))?;
            let rows = journal_head(db)?.and_then(|r| r[0].i()).unwrap_or(-1);
            if decoded.entries.len() as i64 != rows {
                return Err(HqError::Io("the pre-migration backup does not hold HQ's whole journal; nothing was changed".into()));
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &bytes)
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| HqError::Io(format!("cannot write {}: {e}", path.display())))?;
            Ok(path)
        }
    }
}

/// Tables holding rows derived from one store's entries.
const PER_STORE: &[&str] = &["store_heads", "products", "sale_lines", "stock", "daily_sales", "daily_stock", "po_events", "unprojected"];

/// Which stores [`reproject`] rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every store.
    All,
    /// Stores with entries left out whose kind this release now knows.
    LeftOut,
    /// Those, and stores with a figure out of range (written before checked arithmetic).
    OutOfRangeAndLeftOut,
}

/// Rebuilds the derived rows of stores from their entries (see [`Scan`]); `unknown_kinds` is
/// what this HQ still treats as unknown. Returns the store ids.
pub fn reproject(db: &Db, unknown_kinds: &[String], scan: Scan) -> Result<Vec<String>, HqError> {
    let max = stockade_domain::MAX_TOTAL;
    let all = scan == Scan::All;
    let stores = db.tx(|tx| {
        let mut out: Vec<(String, String)> = Vec::new();
        let sql = if all {
            "SELECT retailer_id, store_id FROM store_heads".to_string()
        } else if scan == Scan::LeftOut {
            String::new()
        } else {
            format!(
                "SELECT retailer_id, store_id FROM stock WHERE on_hand NOT BETWEEN -{max} AND {max}
                 UNION SELECT retailer_id, store_id FROM daily_stock WHERE closing NOT BETWEEN -{max} AND {max}
                 UNION SELECT retailer_id, store_id FROM daily_sales WHERE units_sold NOT BETWEEN -{max} AND {max}
                    OR units_returned NOT BETWEEN -{max} AND {max} OR weight_mg NOT BETWEEN -{max} AND {max}
                    OR net_minor NOT BETWEEN -{max} AND {max} OR tax_minor NOT BETWEEN -{max} AND {max} OR refund_minor NOT BETWEEN -{max} AND {max}"
            )
        };
        if !sql.is_empty() {
            for r in tx.query(&sql, &[])? {
                out.push((r[0].show(), r[1].show()));
            }
        }
        if !all {
            // Only entries left out for their kind can change with a release; one left out for a
            // figure out of range stays out (and is not replayed at every open).
            for r in tx.query(&format!("SELECT retailer_id, store_id, kind FROM unprojected WHERE reason LIKE '{}%'", project::UNKNOWN_KIND), &[])? {
                let kind = r[2].show();
                let still_unknown = unknown_kinds.contains(&kind) || !stockade_journal::Event::KINDS.contains(&kind.as_str());
                if !still_unknown {
                    out.push((r[0].show(), r[1].show()));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok::<_, HqError>(out)
    })?;
    for (retailer_id, store_id) in &stores {
        db.tx(|tx| reproject_store(tx, retailer_id, store_id, unknown_kinds))?;
        tracing::info!(retailer_id, store_id, "store reprojected from its entries");
    }
    Ok(stores.into_iter().map(|(_, s)| s).collect())
}

fn reproject_store(tx: &mut dyn Tx, retailer_id: &str, store_id: &str, unknown_kinds: &[String]) -> Result<(), HqError> {
    for t in PER_STORE {
        tx.exec(&format!("DELETE FROM {t} WHERE retailer_id = $1 AND store_id = $2"), &[retailer_id.into(), store_id.into()])?;
    }
    let mut ctx = StoreCtx { retailer_id: retailer_id.into(), store_id: store_id.into(), tz: None, unknown_kinds: unknown_kinds.to_vec() };
    let mut next = 1u64;
    let mut head = stockade_journal::GENESIS;
    loop {
        let rows = tx.query(
            "SELECT seq, bytes, hash FROM entries WHERE retailer_id = $1 AND store_id = $2 AND seq >= $3 ORDER BY seq LIMIT 5000",
            &[retailer_id.into(), store_id.into(), next.into()],
        )?;
        if rows.is_empty() {
            break;
        }
        let mut envs = Vec::with_capacity(rows.len());
        for r in &rows {
            let seq = r[0].i().unwrap_or(0) as u64;
            let env = Envelope::decode(r[1].b().unwrap_or(&[])).map_err(|e| HqError::Corrupt(format!("store {store_id}: entry {seq} is unreadable: {e}")))?;
            head = r[2].b().and_then(|b| b.try_into().ok()).ok_or_else(|| HqError::Corrupt(format!("store {store_id}: entry {seq}: bad hash")))?;
            next = seq + 1;
            envs.push(env);
        }
        project::apply_store_entries(tx, &mut ctx, &envs.iter().collect::<Vec<_>>())?;
    }
    if next > 1 {
        project::set_head(tx, &ctx, next - 1, &head)?;
    }
    // The store's warning about left-out entries, once nothing is left out.
    let left = tx.one("SELECT 1 FROM unprojected WHERE retailer_id = $1 AND store_id = $2", &[retailer_id.into(), store_id.into()])?;
    if left.is_none() {
        tx.exec(
            "UPDATE contact SET attention = '' WHERE retailer_id = $1 AND store_id = $2 AND attention LIKE $3",
            &[retailer_id.into(), store_id.into(), "%is not in HQ's figures%".into()],
        )?;
    }
    Ok(())
}
