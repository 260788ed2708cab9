//! `verify`: re-checks every hash, link and signature of the journal, then replays it into fresh
//! projections and compares them row for row with the stored ones. Reads one consistent snapshot
//! of the database, so it can run while the node is serving.

use crate::error::StoreError;
use crate::migrate::replay_entry;
use crate::node::{read_key_file, DB_FILE, KEY_FILE};
use crate::schema::{MIGRATIONS, PROJECTIONS};
use ed25519_dalek::VerifyingKey;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use stockade_journal::witness::HeadStatement;
use stockade_journal::{ChainError, ChainVerifier, Checkpoint, Hash, StoredEntry};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error("journal: {0}")]
    Journal(#[from] ChainError),
    #[error("signed head: {0}")]
    Head(String),
    /// SQLite's own check found damaged pages, b-trees or indexes.
    #[error("database file: {0}")]
    Storage(String),
    #[error("projection '{table}': row {key} {problem}")]
    Projection { table: String, key: String, problem: &'static str },
    #[error("entry {seq}: cannot be replayed: {reason}")]
    Replay { seq: u64, reason: String },
    /// The journal is intact but an entry cannot be applied (a total out of range, a kind
    /// written by a newer release): the store's figures leave it out.
    #[error("entry {seq} ({kind}) cannot be applied and is left out of the store's figures: {reason}")]
    Unapplied { seq: u64, kind: String, reason: String },
}

impl Finding {
    /// Whether the finding means the database cannot be trusted (an entry left out of the
    /// figures, e.g. of a newer release's kind, is not damage).
    pub fn is_damage(&self) -> bool {
        !matches!(self, Finding::Unapplied { .. })
    }

    /// The first bad entry's sequence number, when the finding is about one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Finding::Journal(ChainError::Gap { expected, .. }) => Some(*expected),
            Finding::Journal(
                ChainError::BrokenLink { seq, .. } | ChainError::BadHash { seq } | ChainError::Unreadable { seq, .. } | ChainError::ColumnMismatch { seq, .. },
            ) => Some(*seq),
            Finding::Journal(ChainError::BadCheckpoint { size, .. }) => Some(*size),
            Finding::Journal(ChainError::Truncated { have, .. }) => Some(have + 1),
            Finding::Replay { seq, .. } | Finding::Unapplied { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub head_hash: String,
    pub checkpoints: u64,
    pub projection_rows: u64,
}

/// The `head` row: size, last hash, signature, highest receipt number (schema 3 on).
pub(crate) type HeadRow = (i64, Vec<u8>, Vec<u8>, Option<i64>);

/// Checks the signed head against the journal's last entry (a fast check done at every start).
/// The head is signed as a head statement (`stockade-head/v2`), never accepted with a
/// checkpoint's signature.
pub fn check_signed_head(conn: &Connection, key: &VerifyingKey, head: (u64, Hash)) -> Result<(), StoreError> {
    let row: Option<HeadRow> =
        conn.query_row("SELECT size, hash, signature, sale_no FROM head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()?;
    match (row, head.0) {
        (None, 0) => Ok(()),
        (None, n) => Err(StoreError::Corrupt(format!("the signed head is missing but the journal has {n} entries; run `stockade store verify`"))),
        (Some((size, hash, sig, sale_no)), _) => {
            let store_id = journal_store_id(conn, "main")?;
            let hash: Hash = hash.try_into().map_err(|_| StoreError::Corrupt("signed head hash is not 32 bytes".into()))?;
            let st = HeadStatement { store_id, size: size as u64, head: hash, sale_no: sale_no.unwrap_or(-1) as u64 };
            if sale_no.is_none() || !st.verify(key, &sig) {
                return Err(StoreError::Corrupt("the signed head's signature does not verify; run `stockade store verify`".into()));
            }
            if st.size != head.0 || st.head != head.1 {
                return Err(StoreError::Corrupt(format!(
                    "the signed head says {} entries but the journal ends at entry {}; run `stockade store verify`",
                    st.size, head.0
                )));
            }
            Ok(())
        }
    }
}

/// Whether a stored head row's signature is valid for its schema: a head statement from
/// schema 3 on; before that (release 1 and 2), a signature made like a checkpoint's.
pub(crate) fn head_signature_ok(store_id: &str, size: u64, hash: Hash, sale_no: Option<i64>, sig: &[u8], key: &VerifyingKey, schema: i64) -> bool {
    if schema >= 3 {
        let Some(n) = sale_no.filter(|n| *n >= 0) else { return false };
        HeadStatement { store_id: store_id.to_string(), size, head: hash, sale_no: n as u64 }.verify(key, sig)
    } else {
        Checkpoint { store_id: store_id.to_string(), size, head: hash }.verify(key, sig)
    }
}

/// Whether a SQLite error says the file is damaged (rather than busy, missing, …).
pub fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

/// The store's identity as its first journal entry records it (never from a projection, which
/// could itself be the tampered row). Empty when the first entry is missing or unreadable: the
/// chain check then reports that entry.
pub fn journal_store_id(conn: &Connection, schema: &str) -> Result<String, StoreError> {
    let bytes: Option<Vec<u8>> = conn.query_row(&format!("SELECT bytes FROM {schema}.journal WHERE seq = 1"), [], |r| r.get(0)).optional()?;
    Ok(bytes.and_then(|b| stockade_journal::Envelope::decode(&b).ok()).map(|e| e.store).unwrap_or_default())
}

/// Verifies the store in `dir`. `Ok` carries a summary; `Err(Ok(finding))` is the first problem found;
/// `Err(Err(e))` means verification itself could not run (no store, unreadable file).
pub fn verify_store(dir: &Path) -> Result<VerifyReport, Result<Finding, StoreError>> {
    let key = read_key_file(&dir.join(KEY_FILE)).map_err(Err)?;
    let db = dir.join(DB_FILE);
    if !db.exists() {
        return Err(Err(StoreError::Io(format!("no store database at {}", db.display()))));
    }
    // A database from a newer release cannot be judged by this one: say so, naming both versions.
    let versions = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| Err(StoreError::Db(e)))?;
    crate::migrate::check_not_newer(&versions).map_err(|e| match e {
        StoreError::Db(e) if is_corruption(&e) => Ok(Finding::Storage(format!("SQLite cannot read the file: {e}"))),
        e => Err(e),
    })?;
    // SQLite's own check first: damaged pages or an index that no longer matches its table.
    if let Some(problem) = crate::integrity::sqlite_check(&versions, true) {
        return Err(Ok(Finding::Storage(problem)));
    }
    drop(versions);
    run(&db, &key.verifying_key()).map_err(|e| match e {
        Err(StoreError::Db(e)) if is_corruption(&e) => Ok(Finding::Storage(format!("SQLite cannot read the file: {e}"))),
        other => other,
    })
}

fn run(db: &Path, key: &VerifyingKey) -> Result<VerifyReport, Result<Finding, StoreError>> {
    let e = |e: rusqlite::Error| Err(StoreError::Db(e));
    let conn =
        Connection::open_with_flags(":memory:", OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_URI).map_err(e)?;
    // The newest schema: a stored database at an older version is compared on the tables it has.
    for m in MIGRATIONS {
        conn.execute_batch(m.sql).map_err(e)?;
    }
    let uri = format!("file:{}?mode=ro", db.display());
    conn.execute("ATTACH DATABASE ?1 AS stored", params![uri]).map_err(e)?;
    // One read transaction: the journal and the stored projections come from one snapshot.
    conn.execute_batch("BEGIN").map_err(e)?;

    let store_id = journal_store_id(&conn, "stored").map_err(Err)?;

    // HQ's co-signatures are checked against the HQ key the store enrolled with.
    // Every key the store has trusted: a co-signature is checked against the key that made it.
    let hq_keys = crate::evidence::trusted_hq_keys_in(&conn, "stored").map_err(Err)?;
    // size -> (head, store signature, HQ co-signature)
    type Signed = (Hash, Vec<u8>, Option<Vec<u8>>);
    let mut checkpoints: HashMap<u64, Signed> = HashMap::new();
    {
        let mut st = conn.prepare("SELECT size, head, signature, hq_signature FROM stored.checkpoints").map_err(e)?;
        let rows =
            st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, Option<Vec<u8>>>(3)?))).map_err(e)?;
        for row in rows {
            let (size, head, sig, hq_sig) = row.map_err(e)?;
            let head: Hash =
                head.try_into().map_err(|_| Ok(Finding::Journal(ChainError::BadCheckpoint { size: size as u64, reason: "head is not 32 bytes".into() })))?;
            checkpoints.insert(size as u64, (head, sig, hq_sig));
        }
    }

    let mut chain = ChainVerifier::new(&store_id);
    let mut verified_checkpoints = 0u64;
    {
        // Read in pages, then check and replay each: a savepoint rolled back during the replay
        // (an entry left out) would abort a read still open on this connection.
        let mut next = i64::MIN;
        loop {
            let to_hash = |v: Vec<u8>| -> Hash { v.try_into().unwrap_or([0xff; 32]) };
            let page: Vec<StoredEntry> = conn
                .prepare_cached("SELECT seq, recorded_at, actor, kind, bytes, prev_hash, hash FROM stored.journal WHERE seq >= ?1 ORDER BY seq LIMIT 2000")
                .map_err(e)?
                .query_map(params![next], |r| {
                    Ok(StoredEntry {
                        seq: r.get::<_, i64>(0)? as u64,
                        at_ms: r.get(1)?,
                        actor: r.get(2)?,
                        kind: r.get(3)?,
                        bytes: r.get(4)?,
                        prev_hash: to_hash(r.get(5)?),
                        hash: to_hash(r.get(6)?),
                    })
                })
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let Some(last) = page.last().map(|x| x.seq as i64) else { break };
            next = last + 1;
            for entry in page {
                let env = chain.push(&entry).map_err(|c| Ok(Finding::Journal(c)))?;
                if let Some((head, sig, hq_sig)) = checkpoints.get(&entry.seq) {
                    let cp = Checkpoint { store_id: store_id.clone(), size: entry.seq, head: *head };
                    if *head != entry.hash {
                        return Err(Ok(Finding::Journal(ChainError::BadCheckpoint {
                            size: entry.seq,
                            reason: "its head differs from the journal's hash".into(),
                        })));
                    }
                    if !cp.verify(key, sig) {
                        return Err(Ok(Finding::Journal(ChainError::BadCheckpoint { size: entry.seq, reason: "signature does not verify".into() })));
                    }
                    if let Some(hq_sig) = hq_sig {
                        if !hq_keys.iter().any(|k| cp.verify(k, hq_sig)) {
                            return Err(Ok(Finding::Journal(ChainError::BadCheckpoint {
                                size: entry.seq,
                                reason: "HQ's co-signature does not verify".into(),
                            })));
                        }
                    }
                    verified_checkpoints += 1;
                }
                replay_entry(&conn, entry.seq, &env).map_err(|err| Ok(Finding::Replay { seq: entry.seq, reason: err.to_string() }))?;
            }
        }
    }
    if let Some(size) = checkpoints.keys().copied().filter(|s| *s > chain.size()).min() {
        return Err(Ok(Finding::Journal(ChainError::Truncated { have: chain.size(), signed: size })));
    }

    // The signed head must name exactly the last entry.
    let schema: i64 = conn
        .query_row("SELECT COALESCE((SELECT MAX(version) FROM stored.schema_migrations), 1)", [], |r| r.get(0))
        .or_else(|_| Ok::<i64, rusqlite::Error>(1))
        .map_err(e)?;
    let sale_no_col = if schema >= 3 { "sale_no" } else { "NULL" };
    let head: Option<HeadRow> = conn
        .query_row(&format!("SELECT size, hash, signature, {sale_no_col} FROM stored.head WHERE id = 1"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()
        .map_err(e)?;
    let (size, hash, sig, sale_no) = head.ok_or(Ok(Finding::Head("the signed head row is missing".into())))?;
    let hash: Hash = hash.try_into().map_err(|_| Ok(Finding::Head("head hash is not 32 bytes".into())))?;
    let cp = Checkpoint { store_id: store_id.clone(), size: size as u64, head: hash };
    if !head_signature_ok(&store_id, cp.size, hash, sale_no, &sig, key, schema) {
        return Err(Ok(Finding::Head("signature does not verify (a head is signed as a head, never with a checkpoint's signature)".into())));
    }
    if cp.size > chain.size() {
        return Err(Ok(Finding::Journal(ChainError::Truncated { have: chain.size(), signed: cp.size })));
    }
    if cp.size < chain.size() {
        return Err(Ok(Finding::Head(format!("entry {} is not covered by the signed head (size {}): inserted after signing", cp.size + 1, cp.size))));
    }
    if cp.head != chain.head() {
        return Err(Ok(Finding::Head("the signed head hash differs from the journal's last hash".into())));
    }

    // Compare replayed projections with the stored ones (the first difference, if any).
    let mut rows_compared = 0u64;
    // Whether the stored database records left-out entries (schema 2 on); release r1's does not.
    let stored_tables_current: bool =
        conn.query_row("SELECT EXISTS(SELECT 1 FROM stored.sqlite_master WHERE type = 'table' AND name = 'projection_faults')", [], |r| r.get(0)).map_err(e)?;
    let mismatch: Option<Finding> = 'compare: {
        for (table, key_expr) in PROJECTIONS {
            let stored_has: bool =
                conn.query_row("SELECT EXISTS(SELECT 1 FROM stored.sqlite_master WHERE type = 'table' AND name = ?1)", [table], |r| r.get(0)).map_err(e)?;
            if !stored_has {
                // A table added by a later schema version: the replay must have produced nothing for it.
                let key: Option<String> =
                    conn.query_row(&format!("SELECT CAST({key_expr} AS TEXT) FROM main.{table} LIMIT 1"), [], |r| r.get(0)).optional().map_err(e)?;
                if let Some(k) = key {
                    break 'compare Some(Finding::Projection {
                        table: table.to_string(),
                        key: k,
                        problem: "is missing (the database predates this table: run `stockade store migrate`)",
                    });
                }
                continue;
            }
            let missing: Option<String> = conn
                .query_row(&format!("SELECT CAST({key_expr} AS TEXT) FROM (SELECT * FROM main.{table} EXCEPT SELECT * FROM stored.{table}) LIMIT 1"), [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(e)?;
            let extra: Option<String> = conn
                .query_row(&format!("SELECT CAST({key_expr} AS TEXT) FROM (SELECT * FROM stored.{table} EXCEPT SELECT * FROM main.{table}) LIMIT 1"), [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(e)?;
            match (missing, extra) {
                (None, None) => {}
                (Some(a), Some(b)) if a == b => {
                    break 'compare Some(Finding::Projection { table: table.to_string(), key: a, problem: "differs from the journal" });
                }
                (Some(a), _) => {
                    break 'compare Some(Finding::Projection { table: table.to_string(), key: a, problem: "is missing or altered in the stored table" })
                }
                (None, Some(b)) => {
                    break 'compare Some(Finding::Projection {
                        table: table.to_string(),
                        key: b,
                        problem: "is not produced by the journal (inserted or altered)",
                    })
                }
            }
            let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM stored.{table}"), [], |r| r.get(0)).map_err(e)?;
            rows_compared += n as u64;
        }
        None
    };
    // An entry the replay had to leave out: on a database that records such entries, a
    // difference is tampering and is named as such; on one that predates them (release r1, whose
    // projections could hold the overflow itself), the left-out entry is the cause.
    let left_out = crate::migrate::faults(&conn).map_err(Err)?.into_iter().next();
    match (mismatch, left_out) {
        (Some(m), Some(_)) if stored_tables_current => return Err(Ok(m)),
        (_, Some(f)) => return Err(Ok(Finding::Unapplied { seq: f.seq, kind: f.kind, reason: f.reason })),
        (Some(m), None) => return Err(Ok(m)),
        (None, None) => {}
    }
    conn.execute_batch("COMMIT").map_err(e)?;
    Ok(VerifyReport { entries: chain.size(), head_hash: hex::encode(chain.head()), checkpoints: verified_checkpoints, projection_rows: rows_compared })
}
