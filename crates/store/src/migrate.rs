//! Schema migrations of the store's SQLite file, and rebuilding projections in place.
//!
//! On every open (and by `stockade store migrate`): read `schema_migrations`, plan with
//! [`stockade_migrate::plan`] (a database newer than this release is refused, naming both
//! versions), and when something is to be applied to a database that holds a journal, first
//! write a backup beside it (`backups/store-schema-vN-….db`, SQLite's online backup, fsynced and
//! checked: SQLite's quick check, same journal size and head) and then apply every pending
//! migration in one transaction. A release-1 database (no `schema_migrations` table) is at
//! version 0: migration 1 is its own schema with `IF NOT EXISTS`, so it changes nothing there.
//!
//! After the SQL, projections that hold a value out of range (written by a release without
//! checked arithmetic) are rebuilt from the journal in the same transaction.

use crate::apply::{apply, MAX_PROJECTED};
use crate::error::StoreError;
use crate::schema::{MIGRATIONS, PROJECTIONS};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use stockade_journal::Envelope;
use stockade_migrate::{plan, Applied, PlanError};

/// What a migration run did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub from_version: i64,
    pub to_version: i64,
    /// `(version, name)` of each migration applied, in order.
    pub applied: Vec<(i64, String)>,
    /// The verified backup written before applying (none for an empty or up-to-date database).
    pub backup: Option<PathBuf>,
    /// Whether projections were rebuilt from the journal (they held values out of range).
    pub reprojected: bool,
    /// Entries left out of the projections (named by `verify` and `status`).
    pub faults: Vec<Fault>,
}

/// A journal entry that cannot be applied to the projections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    pub seq: u64,
    pub kind: String,
    pub reason: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry {} ({}): {}", self.seq, self.kind, self.reason)
    }
}

fn plan_error(e: PlanError) -> StoreError {
    match e {
        PlanError::TooNew { found, known } => StoreError::SchemaTooNew { found, known },
        other => StoreError::Corrupt(other.to_string()),
    }
}

/// The migrations recorded in the database (none for a release-1 or a new file).
pub fn applied(conn: &Connection) -> Result<Vec<Applied>, StoreError> {
    let exists: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')", [], |r| r.get(0))?;
    if !exists {
        return Ok(vec![]);
    }
    let mut st = conn.prepare("SELECT version, checksum FROM schema_migrations ORDER BY version")?;
    let rows = st.query_map([], |r| Ok(Applied { version: r.get(0)?, checksum: r.get(1)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The schema version of the database (0: release 1, before versioning).
pub fn schema_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(applied(conn)?.iter().map(|a| a.version).max().unwrap_or(0))
}

/// The newest schema version this release knows.
pub fn latest_version() -> i64 {
    stockade_migrate::latest(MIGRATIONS)
}

/// Refuses a database newer than this release (for read-only callers such as `verify`).
pub fn check_not_newer(conn: &Connection) -> Result<(), StoreError> {
    plan(&applied(conn)?, MIGRATIONS).map(|_| ()).map_err(plan_error)
}

/// Brings the database at `db_path` (in the store folder `dir`) to the newest schema. Safe to
/// call on every open: an up-to-date database is only read.
pub fn migrate(conn: &Connection, dir: &Path, now_ms: i64) -> Result<MigrationReport, StoreError> {
    let done = applied(conn)?;
    let from_version = done.iter().map(|a| a.version).max().unwrap_or(0);
    let todo = plan(&done, MIGRATIONS).map_err(plan_error)?;
    let mut report = MigrationReport { from_version, to_version: from_version, applied: vec![], backup: None, reprojected: false, faults: vec![] };
    if todo.is_empty() {
        return Ok(report);
    }
    let has_journal: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal')", [], |r| r.get(0))?;
    let entries: i64 = if has_journal { conn.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))? } else { 0 };
    if entries > 0 {
        report.backup = Some(backup_before(conn, dir, from_version, now_ms)?);
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let run = (|| -> Result<(), StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at INTEGER NOT NULL
            )",
        )?;
        for m in &todo {
            conn.execute_batch(m.sql).map_err(|e| StoreError::Io(format!("migration {} ({}) failed, nothing was changed: {e}", m.version, m.name)))?;
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                params![m.version, m.name, m.checksum(), now_ms],
            )?;
            report.applied.push((m.version, m.name.to_string()));
            report.to_version = m.version;
        }
        if entries > 0 && from_version < 3 && report.to_version >= 3 {
            resign_legacy_head(conn, dir)?;
        }
        if entries > 0 && projections_out_of_range(conn)? {
            report.faults = rebuild_projections_in(conn)?;
            report.reprojected = true;
        }
        Ok(())
    })();
    match run {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    tracing::info!(from = report.from_version, to = report.to_version, "store schema migrated");
    Ok(report)
}

/// From schema 3 the head is signed as a head statement. A release-1/2 head (signed like a
/// checkpoint) is checked against the journal and re-signed, in the migration's transaction;
/// one that does not verify is left as it is, and the start-up check refuses it.
fn resign_legacy_head(conn: &Connection, dir: &Path) -> Result<(), StoreError> {
    let key = crate::node::read_key_file(&dir.join(crate::node::KEY_FILE))?;
    let row: Option<(i64, Vec<u8>, Vec<u8>)> =
        conn.query_row("SELECT size, hash, signature FROM head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    let Some((size, hash, sig)) = row else { return Ok(()) };
    let Ok(hash) = <[u8; 32]>::try_from(hash) else { return Ok(()) };
    let store_id = crate::verify::journal_store_id(conn, "main")?;
    let last: Option<Vec<u8>> = conn.query_row("SELECT hash FROM journal ORDER BY seq DESC LIMIT 1", [], |r| r.get(0)).optional()?;
    let legacy_ok = crate::verify::head_signature_ok(&store_id, size as u64, hash, None, &sig, &key.verifying_key(), 2);
    if legacy_ok && last.as_deref() == Some(&hash[..]) {
        crate::integrity::write_head(conn, &store_id, &key, size as u64, &hash)?;
    }
    Ok(())
}

/// A copy of the database beside it, checked before anything is changed.
fn backup_before(conn: &Connection, dir: &Path, from_version: i64, now_ms: i64) -> Result<PathBuf, StoreError> {
    let folder = dir.join("backups");
    std::fs::create_dir_all(&folder).map_err(|e| StoreError::Io(format!("cannot create {}: {e}", folder.display())))?;
    let path = folder.join(format!("store-schema-v{from_version}-{now_ms}.db"));
    if path.exists() {
        std::fs::remove_file(&path).map_err(|e| StoreError::Io(format!("cannot replace {}: {e}", path.display())))?;
    }
    let failed = |e: &dyn std::fmt::Display| StoreError::Io(format!("cannot write the pre-migration backup {}: {e}; nothing was changed", path.display()));
    {
        // SQLite's online backup: a page-for-page copy of one consistent snapshot.
        // The copy is a new file, fsynced once it is whole: no journal of its own is needed.
        let mut copy = Connection::open(&path).map_err(|e| failed(&e))?;
        copy.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF").map_err(|e| failed(&e))?;
        rusqlite::backup::Backup::new(conn, &mut copy).and_then(|b| b.run_to_completion(1 << 30, std::time::Duration::ZERO, None)).map_err(|e| failed(&e))?;
        // A single self-contained file (the source's WAL mode came with its header).
        copy.pragma_update(None, "journal_mode", "DELETE").map_err(|e| failed(&e))?;
    }
    std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(|e| failed(&e))?;
    // Checked: its pages (SQLite's quick check) and its journal (same size, same last hash).
    let head = |c: &Connection| -> Result<(i64, Option<Vec<u8>>), StoreError> {
        Ok(c.query_row("SELECT COUNT(*), (SELECT hash FROM journal ORDER BY seq DESC LIMIT 1) FROM journal", [], |r| Ok((r.get(0)?, r.get(1)?)))?)
    };
    let copy = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" || head(&copy)? != head(conn)? {
        return Err(StoreError::Io(format!("the pre-migration backup {} does not match the database ({check}); nothing was changed", path.display())));
    }
    set_owner_only(&path);
    Ok(path)
}

#[cfg(unix)]
fn set_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn set_owner_only(_: &Path) {}

/// Whether a running total holds a value no checked projection could produce.
fn projections_out_of_range(conn: &Connection) -> Result<bool, StoreError> {
    let checks = [("products", "on_hand"), ("lots", "on_hand"), ("tills", "cash_sales_minor"), ("tills", "cash_refunds_minor"), ("sales", "refunded_minor")];
    for (table, column) in checks {
        let bad: Option<i64> = conn
            .query_row(
                &format!("SELECT 1 FROM {table} WHERE typeof({column}) <> 'integer' OR {column} NOT BETWEEN -{MAX_PROJECTED} AND {MAX_PROJECTED} LIMIT 1"),
                [],
                |r| r.get(0),
            )
            .optional()?;
        if bad.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Applies one journal entry during a replay: an entry that cannot be applied is rolled back
/// alone and recorded in `projection_faults`; the replay goes on.
pub(crate) fn replay_entry(conn: &Connection, seq: u64, env: &Envelope) -> Result<Option<Fault>, StoreError> {
    conn.execute_batch("SAVEPOINT entry")?;
    match apply(conn, seq, env) {
        Ok(()) => {
            conn.execute_batch("RELEASE entry")?;
            Ok(None)
        }
        Err(StoreError::Unprojectable { seq, kind, reason }) => {
            conn.execute_batch("ROLLBACK TO entry; RELEASE entry")?;
            conn.execute("INSERT INTO projection_faults (seq, kind, reason) VALUES (?1, ?2, ?3)", params![seq as i64, kind, reason])?;
            Ok(Some(Fault { seq, kind, reason }))
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO entry; RELEASE entry")?;
            Err(e)
        }
    }
}

/// Empties every projection table and replays the whole journal into them, inside the
/// caller's transaction. Returns the entries that could not be applied.
pub(crate) fn rebuild_projections_in(conn: &Connection) -> Result<Vec<Fault>, StoreError> {
    for (table, _) in PROJECTIONS {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    let mut faults = Vec::new();
    let mut next = 1i64;
    loop {
        // Read a page, then apply it: a savepoint rolled back while a read is open on the same
        // connection would abort that read.
        let page: Vec<(i64, Vec<u8>)> = conn
            .prepare_cached("SELECT seq, bytes FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT 2000")?
            .query_map(params![next], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let Some(last) = page.last().map(|p| p.0) else { break };
        for (seq, bytes) in page {
            let env = Envelope::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("entry {seq} is unreadable: {e}; run `stockade store verify`")))?;
            if let Some(f) = replay_entry(conn, seq as u64, &env)? {
                tracing::warn!(seq = f.seq, kind = %f.kind, reason = %f.reason, "journal entry left out of the projections");
                faults.push(f);
            }
        }
        next = last + 1;
    }
    Ok(faults)
}

/// The entries left out of the projections, oldest first.
pub fn faults(conn: &Connection) -> Result<Vec<Fault>, StoreError> {
    let exists: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'projection_faults')", [], |r| r.get(0))?;
    if !exists {
        return Ok(vec![]);
    }
    let mut st = conn.prepare("SELECT seq, kind, reason FROM projection_faults ORDER BY seq")?;
    let rows = st.query_map([], |r| Ok(Fault { seq: r.get::<_, i64>(0)? as u64, kind: r.get(1)?, reason: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `stockade store migrate`: brings the store in `dir` to the newest schema (backing it up
/// first when there is anything to do) and reports what it did. Stop `store serve` first.
pub fn migrate_dir(dir: &Path, now_ms: i64) -> Result<MigrationReport, StoreError> {
    let conn = open_existing(dir)?;
    migrate(&conn, dir, now_ms)
}

/// `stockade store rebuild-projections`: replays the journal into fresh projection tables, in
/// place and in one transaction (the journal is only read). Stop `store serve` first.
pub fn rebuild_projections(dir: &Path, now_ms: i64) -> Result<Vec<Fault>, StoreError> {
    let conn = open_existing(dir)?;
    migrate(&conn, dir, now_ms)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match rebuild_projections_in(&conn) {
        Ok(faults) => {
            conn.execute_batch("COMMIT")?;
            Ok(faults)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn open_existing(dir: &Path) -> Result<Connection, StoreError> {
    let db = dir.join(crate::node::DB_FILE);
    if !db.exists() {
        return Err(StoreError::Io(format!("no store in {}", dir.display())));
    }
    crate::node::open_connection(&db, false)
}
