//! Rollback detection and recovery: a store that went back in time (an old copy of its
//! database, a lost or cut write-ahead log, a journal truncated by SQL) notices before its next
//! sale, keeps selling on a marked *stale branch* if HQ is out of reach, and reconciles with
//! HQ's copy as soon as it can: the missing entries come back (checked against the store's own
//! key and HQ's co-signatures), and what was sold on the stale branch is recorded again after
//! them, so no acknowledged sale is lost and no receipt number is issued twice.
//!
//! Evidence outside the database is the witness file ([`WITNESS_FILE`], see
//! `stockade_journal::witness`): one signed line per commit, synced before the commit is
//! acknowledged.

use crate::error::StoreError;
use crate::node::{Store, Tx};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use stockade_journal::witness::{HeadStatement, Truth, Witness, WitnessRecord};
use stockade_journal::{ChainVerifier, Checkpoint, Envelope, Event, Hash, SignedCheckpoint, GENESIS};

pub const WITNESS_FILE: &str = "store.witness";
/// The witness file is rewritten to its last state when it grows past this.
const WITNESS_COMPACT_BYTES: u64 = 256 * 1024;

/// The store's integrity as seen at start and kept up to date by the writer and recovery.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Health {
    /// Set while the store sells on a stale branch: the witnessed history it is behind.
    #[serde(skip)]
    pub truth: Option<Truth>,
    /// "behind: …" while on a stale branch; empty when whole.
    pub state: String,
    /// The witness file could not be written (the last error), or was missing at start.
    pub witness_problem: Option<String>,
    /// Set when a check found the database damaged: no entry is appended until it is repaired.
    pub damaged: Option<String>,
    /// Set while the disk is full: no sale is taken (sign-in and reads go on, on the space the
    /// reserve file gave back); cleared by itself once the reserve can be written again.
    pub disk_full: Option<String>,
    /// Set while the store's clock is off by more than [`CLOCK_TOLERANCE_MS`], compared with
    /// HQ's at a contact or with the time it kept itself since start.
    pub clock: Option<ClockProblem>,
    /// HQ confirmed the clock at this (clock reading, [`steady_ms`]): the writer's new reference.
    #[serde(skip)]
    pub clock_confirmed: Option<(i64, i64)>,
}

/// How far the clock may be off before sales are paused (ahead) or an alert is raised (behind).
pub const CLOCK_TOLERANCE_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Serialize)]
pub struct ClockProblem {
    /// How far the store's clock is ahead (negative: behind).
    pub ahead_ms: i64,
    /// "hq" (compared with HQ's clock at a contact) or "monotonic" (a jump while running).
    pub source: &'static str,
    pub message: String,
}

impl ClockProblem {
    pub fn new(ahead_ms: i64, source: &'static str) -> ClockProblem {
        let against = if source == "hq" { "HQ's clock" } else { "the time the store kept since it started (the clock jumped)" };
        let minutes = ahead_ms.unsigned_abs() / 60_000;
        let way = if ahead_ms > 0 { "ahead of" } else { "behind" };
        let message = format!("clock: the store's clock is {minutes} min {way} {against}: set it right (sales are dated by the store's clock)");
        ClockProblem { ahead_ms, source, message }
    }
}

/// The refusal while the store's clock says a business day has started that has not by the
/// trusted time (HQ's, or the one the store kept): `None` when both give the same local day.
pub fn clock_refusal(tz: chrono_tz::Tz, now_ms: i64, problem: &ClockProblem) -> Option<String> {
    if problem.ahead_ms <= CLOCK_TOLERANCE_MS {
        return None;
    }
    let trusted = now_ms.saturating_sub(problem.ahead_ms);
    let (shown, real) = (crate::apply::local_date(tz, now_ms), crate::apply::local_date(tz, trusted));
    (shown > real).then(|| {
        format!(
            "The store's clock says {shown} but it is still {real} ({}): sales are paused so that none is booked on a business day that has not started. Set the clock right and selling resumes by itself.",
            problem.message.trim_start_matches("clock: ")
        )
    })
}

/// Milliseconds on a clock that never jumps and keeps counting while the machine sleeps (Linux
/// `CLOCK_BOOTTIME`; elsewhere the monotonic clock): the reference a wall-clock jump is measured against.
pub fn steady_ms() -> i64 {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        t.tv_sec.saturating_mul(1000).saturating_add(t.tv_nsec / 1_000_000)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_millis() as i64
    }
}

/// Whether the disk holding `dir` has room for the reserve and as much again (so that writing
/// the reserve back does not fill it at once).
pub(crate) fn room_for_reserve(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        match rustix::fs::statvfs(dir) {
            Ok(s) => s.f_bavail.saturating_mul(s.f_frsize) >= 3 * RESERVE_BYTES as u64,
            Err(_) => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        true
    }
}

/// A file of this many bytes is kept beside the database and given back when the disk fills
/// up, so that sign-in, alerts and the witness still have room while sales are refused.
pub const RESERVE_BYTES: usize = 4 << 20;
pub const RESERVE_FILE: &str = "store.reserve";

/// Writes the reserve file (whole, synced) if it is not there. `Err` when the disk has no room.
pub(crate) fn ensure_reserve(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(RESERVE_FILE);
    if std::fs::metadata(&path).map(|m| m.len() as usize == RESERVE_BYTES).unwrap_or(false) {
        return Ok(());
    }
    let r = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&vec![0u8; RESERVE_BYTES])?;
        f.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    r
}

/// Gives the reserve back to the disk.
pub(crate) fn release_reserve(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(RESERVE_FILE));
}

/// What the register and the API say while the disk is full.
pub fn disk_full_message(dir: &Path) -> String {
    format!(
        "The store's disk is full: this sale was not recorded. Free space on the disk holding {} (HQ and the manager are alerted); selling resumes by itself when there is room. Sign-in and look-ups still work.",
        dir.display()
    )
}

/// What the register and the API say while the database is damaged.
pub fn damaged_message(dir: &Path, finding: &str) -> String {
    format!(
        "The store's database is damaged ({finding}). Sales are stopped so that nothing is recorded on a damaged file. Manager: stop the store and run `stockade store repair --data {}` (it rebuilds the database from the journal, HQ's copy or a backup, and proves every witnessed entry is back).",
        dir.display()
    )
}

/// SQLite's own check of the database file: pages, b-trees and (when `full`) that every index
/// matches its table. `None` when it is whole, else the first problems it names.
pub fn sqlite_check(conn: &Connection, full: bool) -> Option<String> {
    let pragma = if full { "PRAGMA integrity_check(10)" } else { "PRAGMA quick_check(10)" };
    let lines: Result<Vec<String>, rusqlite::Error> = conn.prepare(pragma).and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0))?.collect());
    match lines {
        Ok(l) if l == ["ok"] => None,
        Ok(l) => Some(format!("SQLite's {} check: {}", if full { "integrity" } else { "quick" }, l.join("; "))),
        Err(e) => Some(format!("SQLite cannot read the file: {e}")),
    }
}

impl Health {
    pub fn stale(&self) -> bool {
        self.truth.is_some()
    }
}

/// The open witness file, appended by the writer after every commit.
pub(crate) struct WitnessFile {
    path: PathBuf,
    file: std::fs::File,
    len: u64,
}

impl WitnessFile {
    pub(crate) fn open(dir: &Path) -> std::io::Result<WitnessFile> {
        let path = dir.join(WITNESS_FILE);
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        set_owner_only(&path);
        let mut len = file.metadata()?.len();
        // A line cut by a crash is ended here, so the next line starts whole.
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
                len += 1;
            }
        }
        Ok(WitnessFile { path, file, len })
    }

    /// Appends one signed line and syncs it: only then is the commit acknowledged.
    pub(crate) fn append(&mut self, store_id: &str, key: &SigningKey, record: &WitnessRecord) -> std::io::Result<()> {
        if self.len > WITNESS_COMPACT_BYTES {
            return self.rewrite(store_id, key, record);
        }
        let line = record.line(store_id, key);
        if let Err(e) = self.file.write_all(&line).and_then(|_| self.file.sync_data()) {
            // A line cut short (a full disk) is taken back, so the next one starts whole.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += line.len() as u64;
        Ok(())
    }

    /// Replaces the file with `record` alone (a stale-branch record carries the truth it is
    /// behind, and every record the highest receipt number): written beside it, synced and
    /// renamed, so a crash leaves one whole file.
    pub(crate) fn rewrite(&mut self, store_id: &str, key: &SigningKey, record: &WitnessRecord) -> std::io::Result<()> {
        let text = record.line(store_id, key);
        let tmp = self.path.with_extension("witness.partial");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        set_owner_only(&tmp);
        std::fs::rename(&tmp, &self.path)?;
        if let Some(parent) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        self.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        self.len = text.len() as u64;
        Ok(())
    }
}

#[cfg(unix)]
fn set_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn set_owner_only(_: &Path) {}

/// Reads the witness file in `dir`; `None` when there is none.
pub fn read_witness(dir: &Path, store_id: &str, key: &VerifyingKey) -> Result<Option<Witness>, StoreError> {
    match std::fs::read(dir.join(WITNESS_FILE)) {
        Ok(bytes) => Ok(Some(Witness::read(&bytes, store_id, key))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io(format!("cannot read the witness file: {e}"))),
    }
}

/// The highest receipt number issued, or never to be issued again (the floor).
pub(crate) fn sale_no_high(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT MAX(COALESCE((SELECT MAX(sale_no) FROM sales), 0), COALESCE((SELECT sale_no_floor FROM integrity WHERE id = 1), 0))",
        [],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

pub(crate) fn raise_floor(conn: &Connection, floor: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO integrity (id, sale_no_floor) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET sale_no_floor = MAX(sale_no_floor, excluded.sale_no_floor)",
        params![floor as i64],
    )?;
    Ok(())
}

/// Signs and stores the head statement for `(size, head)`.
pub(crate) fn write_head(conn: &Connection, store_id: &str, key: &SigningKey, size: u64, head: &Hash) -> Result<HeadStatement, StoreError> {
    let st = HeadStatement { store_id: store_id.to_string(), size, head: *head, sale_no: sale_no_high(conn)? };
    conn.execute(
        "INSERT INTO head (id, size, hash, signature, sale_no) VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET size = excluded.size, hash = excluded.hash, signature = excluded.signature, sale_no = excluded.sale_no",
        params![size as i64, &head[..], &st.sign(key)[..], st.sale_no as i64],
    )?;
    Ok(st)
}

pub(crate) fn hash_at(conn: &Connection, seq: u64) -> Result<Option<Hash>, StoreError> {
    if seq == 0 {
        return Ok(Some(GENESIS));
    }
    let h: Option<Vec<u8>> = conn.query_row("SELECT hash FROM journal WHERE seq = ?1", params![seq as i64], |r| r.get(0)).optional()?;
    Ok(h.and_then(|h| h.try_into().ok()))
}

/// A rollback found and not yet reconciled.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub local_size: u64,
    pub truth: Truth,
}

pub(crate) fn pending(conn: &Connection) -> Result<Option<Pending>, StoreError> {
    let row: Option<(i64, i64, Vec<u8>)> = conn
        .query_row("SELECT local_size, truth_size, truth_head FROM rollback_pending WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.and_then(|(l, s, h)| Some(Pending { local_size: l as u64, truth: Truth { size: s as u64, head: h.try_into().ok()? } })))
}

/// What the start-up check concluded.
pub(crate) enum Start {
    Whole,
    /// Behind the witnessed history: now on a stale branch (`detected` when found just now).
    Stale {
        truth: Truth,
        local_size: u64,
        detected: bool,
    },
}

/// The start-up check, on the write connection before the writer starts: the witness against
/// the journal. A store behind its witness is put on a stale branch (recorded in
/// `rollback_pending`, receipt numbers raised past the witnessed ones, projections replayed
/// from the journal it has, head re-signed) and sells on until HQ gives the truth back.
pub(crate) fn check_at_start(
    conn: &Connection,
    dir: &Path,
    store_id: &str,
    key: &SigningKey,
    head: (u64, Hash),
    witness: Option<Witness>,
    now_ms: i64,
) -> Result<(Start, Health), StoreError> {
    let mut health = Health::default();
    // Before the first sale: SQLite's own check of the file (pages, b-trees, every index
    // against its table: about one read of the file, 3.5 s for a 1,000,000-entry store, see
    // BENCHMARKS.md) and the chain of the last entries. The rest (the whole chain, signatures,
    // the projections replayed) runs in the background (`Store::watch`).
    if let Some(problem) = sqlite_check(conn, true) {
        tracing::error!(%problem, "the store's database is damaged");
        health.damaged = Some(damaged_message(dir, &problem));
        return Ok((Start::Whole, health));
    }
    if let Err(e) = verify_tail(conn, store_id, head, START_TAIL) {
        tracing::error!(error = %e, "the store's journal is damaged");
        health.damaged = Some(damaged_message(dir, &e.to_string()));
        return Ok((Start::Whole, health));
    }
    if let Some(p) = pending(conn)? {
        crate::verify::check_signed_head(conn, &key.verifying_key(), head)?;
        // Already on a stale branch; the witness also knows how far the branch went: a
        // database that went back in time again is a second incident.
        let mut again = false;
        if let Some(w) = &witness {
            raise_floor(conn, w.sale_no)?;
            if let Some(last) = w.last.as_ref().filter(|l| l.truth.is_some()) {
                again = head.0 < last.size || hash_at(conn, last.size)? != Some(last.head);
                if again {
                    tracing::error!(local = head.0, witnessed = last.size, "the database went back in time again while on a stale branch");
                    conn.execute("UPDATE rollback_pending SET local_size = MIN(local_size, ?1)", params![head.0 as i64])?;
                }
            }
        }
        let local_size = p.local_size.min(head.0);
        health.truth = Some(p.truth);
        health.state = behind_text(local_size, &p.truth);
        return Ok((Start::Stale { truth: p.truth, local_size, detected: again }, health));
    }
    let Some(w) = witness else {
        crate::verify::check_signed_head(conn, &key.verifying_key(), head)?;
        if head.0 > 0 {
            health.witness_problem =
                Some("the witness file was missing at start and was created again: a rollback before now cannot be seen locally (HQ still checks)".into());
            tracing::warn!("witness file missing; created again from the current head");
        }
        return Ok((Start::Whole, health));
    };
    if w.bad_lines > 1 {
        health.witness_problem = Some(format!("{} lines of the witness file do not verify", w.bad_lines));
        tracing::warn!(bad_lines = w.bad_lines, "witness lines that do not verify");
    }
    let behind = match &w.furthest {
        Some(f) => head.0 < f.size || hash_at(conn, f.size)? != Some(f.head),
        None => false,
    };
    if !behind {
        crate::verify::check_signed_head(conn, &key.verifying_key(), head)?;
        return Ok((Start::Whole, health));
    }
    let Some(f) = w.furthest.clone() else { return Ok((Start::Whole, health)) };
    // The journal the store has must itself be whole and signed: a rollback is an older true
    // state, not an edit. Its chain must verify, every checkpoint it holds must be the store's
    // signature of it, and its last entry must be signed (by the head, or by a checkpoint when
    // the head row was rewritten). Else it is refused: `stockade store verify` names the entry.
    verify_chain(conn, store_id)?;
    verify_signed(conn, store_id, key, head)?;
    let truth = Truth { size: f.size, head: f.head };
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let r = (|| -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO rollback_pending (id, detected_at, local_size, truth_size, truth_head, source) VALUES (1, ?1, ?2, ?3, ?4, 'witness')",
            params![now_ms, head.0 as i64, truth.size as i64, &truth.head[..]],
        )?;
        raise_floor(conn, w.sale_no)?;
        // Projections may hold rows of entries that are gone (a journal cut by SQL): they are
        // rebuilt from the entries the store has.
        crate::migrate::rebuild_projections_in(conn)?;
        write_head(conn, store_id, key, head.0, &head.1)?;
        Ok(())
    })();
    match r {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    tracing::error!(
        local = head.0,
        witnessed = truth.size,
        "the store's database is behind its witness: selling on a stale branch until HQ gives the missing entries back"
    );
    health.truth = Some(truth);
    health.state = behind_text(head.0, &truth);
    Ok((Start::Stale { truth, local_size: head.0, detected: true }, health))
}

fn behind_text(local: u64, truth: &Truth) -> String {
    format!(
        "behind: the database went back to entry {local} but entry {} was witnessed; selling on a stale branch until HQ returns the missing entries",
        truth.size
    )
}

/// Every stored checkpoint within the journal must be the store's signature of it, and the
/// last entry must be signed by the head or by a checkpoint.
fn verify_signed(conn: &Connection, store_id: &str, key: &SigningKey, head: (u64, Hash)) -> Result<(), StoreError> {
    let public = key.verifying_key();
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT size, head, signature FROM checkpoints WHERE size <= ?1")?
        .query_map(params![head.0 as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut end_signed = crate::verify::check_signed_head(conn, &public, head).is_ok();
    for (size, h, sig) in rows {
        let size = size as u64;
        let ok = <Hash>::try_from(h.as_slice())
            .ok()
            .filter(|h| hash_at(conn, size).ok().flatten().as_ref() == Some(h))
            .is_some_and(|h| Checkpoint { store_id: store_id.to_string(), size, head: h }.verify(&public, &sig));
        if !ok {
            return Err(StoreError::Corrupt(format!(
                "checkpoint {size} does not match the journal or is not the store's signature: run `stockade store verify`"
            )));
        }
        end_signed |= size == head.0;
    }
    if !end_signed {
        return Err(StoreError::Corrupt(format!(
            "the journal ends at entry {} but no signature of the store covers it (altered without the key): run `stockade store verify`",
            head.0
        )));
    }
    Ok(())
}

/// Entries whose chain is checked at every start.
const START_TAIL: u64 = 1000;

/// Checks the chain of the last `n` entries and that it ends at `head`.
fn verify_tail(conn: &Connection, store_id: &str, head: (u64, Hash), n: u64) -> Result<(), StoreError> {
    if head.0 == 0 {
        return Ok(());
    }
    let first = head.0.saturating_sub(n - 1).max(1);
    let prev = hash_at(conn, first - 1)?.ok_or_else(|| StoreError::Corrupt(format!("entry {} is missing", first - 1)))?;
    let chain = walk_chain(conn, ChainVerifier::resume(store_id, first - 1, prev), first)?;
    if (chain.size(), chain.head()) != head {
        return Err(StoreError::Corrupt(format!("the journal's last entries do not end at the head (entry {})", head.0)));
    }
    Ok(())
}

fn verify_chain(conn: &Connection, store_id: &str) -> Result<(), StoreError> {
    walk_chain(conn, ChainVerifier::new(store_id), 1).map(|_| ())
}

fn walk_chain(conn: &Connection, mut chain: ChainVerifier, from: u64) -> Result<ChainVerifier, StoreError> {
    let mut next = from as i64;
    loop {
        let page: Vec<stockade_journal::StoredEntry> = conn
            .prepare_cached("SELECT seq, recorded_at, actor, kind, bytes, prev_hash, hash FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT 5000")?
            .query_map(params![next], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })?
            .map(|r| {
                r.map(|(seq, at_ms, actor, kind, bytes, prev, hash)| stockade_journal::StoredEntry {
                    seq: seq as u64,
                    at_ms,
                    actor,
                    kind,
                    bytes,
                    prev_hash: prev.try_into().unwrap_or([0xff; 32]),
                    hash: hash.try_into().unwrap_or([0xff; 32]),
                })
            })
            .collect::<Result<_, _>>()?;
        let Some(last) = page.last().map(|e| e.seq) else { return Ok(chain) };
        for e in &page {
            chain.push(e).map_err(|err| StoreError::Corrupt(format!("{err}; run `stockade store verify`, then `stockade store repair`")))?;
        }
        next = last as i64 + 1;
    }
}

/// What a recovery did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The store's journal size before.
    pub local_size: u64,
    /// The first entry where the store's journal and HQ's copy differed (one past both when
    /// they agree).
    pub diverged_at: u64,
    /// HQ's size for this store.
    pub hq_size: u64,
    /// Entries brought back from HQ.
    pub recovered: u64,
    /// Entries of the stale branch recorded again after them.
    pub reconciled: u64,
    /// Entries the witness saw that HQ never received: lost (their receipt numbers are not
    /// issued again).
    pub lost: u64,
    pub journal_size: u64,
}

impl Store {
    /// The journal's size (its last entry's number).
    pub fn journal_size(&self) -> Result<u64, StoreError> {
        self.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get::<_, i64>(0))? as u64))
    }

    /// The largest checkpoint HQ co-signed at or below the journal's size: where a recovery
    /// starts comparing with HQ's copy.
    pub fn last_cosigned(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(MAX(c.size), 0) FROM checkpoints c JOIN journal j ON j.seq = c.size AND j.hash = c.head WHERE c.hq_signature IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    /// Reconciles the journal with HQ's copy of it: `entries` are HQ's, from `last_cosigned()+1`
    /// to HQ's head, with the checkpoints HQ holds for them. Everything is checked first (the
    /// chain continues the store's own, every checkpoint is signed by the store's key and
    /// co-signed by `hq_key`, HQ's head is co-signed, and a witnessed head HQ holds is the one
    /// HQ has); then, in one transaction, the store's journal becomes HQ's copy followed by the
    /// entries only the store had (re-recorded as `entry_reconciled`), and every projection is
    /// replayed. The stale entries are kept in `stale_entries`.
    pub async fn reconcile(
        &self,
        entries: Vec<(u64, Vec<u8>)>,
        checkpoints: Vec<SignedCheckpoint>,
        hq_key: VerifyingKey,
    ) -> Result<RecoveryReport, StoreError> {
        if let Some(m) = self.health().damaged {
            return Err(StoreError::Damaged(m));
        }
        let store = self.clone();
        let truth = self.health().truth;
        let report = self.write(move |tx| reconcile_in(tx, &store, &entries, &checkpoints, &hq_key, truth)).await?;
        // Whole again: the witness starts over from the reconciled head.
        self.set_truth(None);
        self.reset_witness().await?;
        tracing::info!(?report, "journal reconciled with HQ");
        Ok(report)
    }
}

fn refused(m: String) -> StoreError {
    StoreError::conflict("recovery_refused", m)
}

fn reconcile_in(
    tx: &mut Tx<'_>,
    store: &Store,
    entries: &[(u64, Vec<u8>)],
    checkpoints: &[SignedCheckpoint],
    hq_key: &VerifyingKey,
    truth: Option<Truth>,
) -> Result<RecoveryReport, StoreError> {
    let store_id = store.info().store_id.clone();
    let own = store.public_key();
    let (k, _) = tx.head();
    let from = entries.first().map(|e| e.0).unwrap_or(k + 1);
    if from == 0 || from > k + 1 {
        return Err(refused(format!("HQ's entries start at {from} but the store holds {k}")));
    }
    let c = from - 1;
    let conn = tx.conn();
    let prev = hash_at(conn, c)?.ok_or_else(|| refused(format!("entry {c} is missing")))?;
    let mut chain = ChainVerifier::resume(&store_id, c, prev);
    let mut theirs = Vec::with_capacity(entries.len());
    for (seq, bytes) in entries {
        let (e, env) = chain.push_bytes(*seq, bytes).map_err(|err| refused(format!("HQ's copy does not continue the store's journal: {err}")))?;
        theirs.push((e, env));
    }
    let t = chain.size();
    // Every checkpoint HQ sends is the store's own, co-signed by HQ; HQ's head must be one.
    let hashes: std::collections::HashMap<u64, Hash> = theirs.iter().map(|(e, _)| (e.seq, e.hash)).collect();
    let mut cps = Vec::new();
    for sc in checkpoints.iter().filter(|sc| sc.size >= from && sc.size <= t) {
        let head: Hash = hex::decode(&sc.head).ok().and_then(|h| h.try_into().ok()).ok_or_else(|| refused(format!("checkpoint {}: bad head", sc.size)))?;
        if hashes.get(&sc.size) != Some(&head) {
            return Err(refused(format!("checkpoint {} does not match HQ's entries", sc.size)));
        }
        let cp = Checkpoint { store_id: store_id.clone(), size: sc.size, head };
        let sig = hex::decode(&sc.signature).unwrap_or_default();
        if !cp.verify(&own, &sig) {
            return Err(refused(format!("checkpoint {} is not signed by this store's key", sc.size)));
        }
        let hq_sig = sc.hq_signature.as_deref().and_then(|h| hex::decode(h).ok()).unwrap_or_default();
        if !cp.verify(hq_key, &hq_sig) {
            return Err(refused(format!("checkpoint {}: HQ's co-signature does not verify", sc.size)));
        }
        cps.push((cp, sig, hq_sig));
    }
    if t > c && !cps.iter().any(|(cp, _, _)| cp.size == t) {
        return Err(refused(format!("HQ's copy ends at entry {t} without a checkpoint the store signed and HQ co-signed")));
    }
    // Where the two histories part. Entries the store has beyond HQ's copy, on the same
    // history, are simply not replicated yet: they stay as they are.
    let mut diverged = None;
    for (e, _) in &theirs {
        if e.seq > k {
            break;
        }
        if hash_at(conn, e.seq)? != Some(e.hash) {
            diverged = Some(e.seq);
            break;
        }
    }
    let d = diverged.unwrap_or(k.min(t) + 1);
    // The witnessed head, against the journal as it will be (the store's own entries before
    // `d`, HQ's from `d` to `t`). HQ only ever holds what the store sent it: an entry of HQ's
    // copy that is neither the witnessed one nor the store's own is a contradiction (refused).
    // Witnessed entries that neither the store nor HQ holds any more are lost, counted and
    // alerted (their receipt numbers stay retired by the floor).
    let rolled_back_to = pending(conn)?.map(|p| p.local_size).unwrap_or(k).min(k);
    let mut lost = 0;
    if let Some(tr) = truth {
        let after = if tr.size < d {
            hash_at(conn, tr.size)?
        } else if tr.size <= t {
            hashes.get(&tr.size).copied()
        } else {
            None
        };
        if after != Some(tr.head) {
            if tr.size >= from && tr.size <= t && hashes.get(&tr.size).copied() != hash_at(conn, tr.size)? {
                return Err(refused(format!("HQ's copy differs from the store's witness at entry {}: not reconciled", tr.size)));
            }
            // HQ's entries beyond the rollback point are the lost history when they differ from
            // the store's (or the store has none there); equal ones came from the stale branch.
            let reach = if diverged.is_some() || t > k { t } else { rolled_back_to };
            lost = tr.size.saturating_sub(reach.max(rolled_back_to));
        }
    }
    // The stale branch: the store's entries from `d` on.
    let stale: Vec<(u64, Vec<u8>, Vec<u8>)> = match diverged {
        None => Vec::new(),
        Some(d) => conn
            .prepare("SELECT seq, bytes, hash FROM journal WHERE seq >= ?1 ORDER BY seq")?
            .query_map(params![d as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?,
    };
    let recovered = (t + 1).saturating_sub(d);
    let mut lost_alert = None;
    let mut report = RecoveryReport { local_size: k, diverged_at: d, hq_size: t, recovered, reconciled: 0, lost, journal_size: k };
    let now = tx.now_ms();
    let conn = tx.conn();
    conn.execute(
        "INSERT INTO recoveries (at_ms, local_size, diverged_at, hq_size, recovered, reconciled, lost, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '')",
        params![now, k as i64, d as i64, t as i64, recovered as i64, stale.len() as i64, lost as i64],
    )?;
    let recovery = conn.last_insert_rowid();
    conn.execute("UPDATE sync SET acked_size = ?1 WHERE id = 1", params![t.min(d - 1 + recovered) as i64])?;
    conn.execute("DELETE FROM rollback_pending", [])?;
    tx.effects().leave_stale = true;
    if lost > 0 {
        let message = format!(
            "{lost} entries the store had witnessed (up to entry {}) were lost with its database and never reached HQ; their receipt numbers are not issued again",
            truth.map(|t| t.size).unwrap_or(0)
        );
        tracing::error!(%message, "entries lost");
        // Journaled after the reconciliation below, so HQ hears of it.
        lost_alert = Some(message);
    }
    let conn = tx.conn();
    if stale.is_empty() && recovered == 0 {
        if let Some(message) = lost_alert {
            tx.append("system", Event::SecurityAlert { alert_kind: "entries_lost".into(), message })?;
            report.journal_size = tx.head().0;
        }
        return Ok(report);
    }
    for (seq, bytes, hash) in &stale {
        conn.execute(
            "INSERT INTO stale_entries (recovery, seq, bytes, hash, reconciled_as) VALUES (?1, ?2, ?3, ?4, 0)",
            params![recovery, *seq as i64, bytes, hash],
        )?;
    }
    conn.execute("DELETE FROM journal WHERE seq >= ?1", params![d as i64])?;
    conn.execute("DELETE FROM checkpoints WHERE size >= ?1", params![d as i64])?;
    for (e, _) in theirs.iter().filter(|(e, _)| e.seq >= d) {
        crate::node::insert_entry(conn, e)?;
    }
    for (cp, sig, hq_sig) in cps.iter().filter(|(cp, _, _)| cp.size >= d) {
        crate::node::insert_checkpoint(conn, cp, sig, Some(hq_sig))?;
    }
    let head_t = if t >= d { chain.head() } else { hash_at(conn, d - 1)?.unwrap_or(GENESIS) };
    tx.set_head((t.max(d - 1), head_t));
    crate::migrate::rebuild_projections_in(tx.conn())?;
    for (seq, bytes, hash) in &stale {
        let env = Envelope::decode(bytes).map_err(|e| StoreError::Corrupt(format!("stale entry {seq} is unreadable: {e}")))?;
        let event = match env.event {
            // An entry already re-recorded once keeps naming the original.
            Event::EntryReconciled { original_seq, original_hash, entry } => Event::EntryReconciled { original_seq, original_hash, entry },
            _ => Event::EntryReconciled {
                original_seq: *seq,
                original_hash: hex::encode(hash),
                entry: String::from_utf8(bytes.clone()).map_err(|_| StoreError::Corrupt(format!("stale entry {seq} is not UTF-8")))?,
            },
        };
        let at = tx.append_replayed(&env.actor, event)?;
        tx.conn().execute("UPDATE stale_entries SET reconciled_as = ?1 WHERE recovery = ?2 AND seq = ?3", params![at as i64, recovery, *seq as i64])?;
        report.reconciled += 1;
    }
    if let Some(message) = lost_alert {
        tx.append("system", Event::SecurityAlert { alert_kind: "entries_lost".into(), message })?;
    }
    report.journal_size = tx.head().0;
    Ok(report)
}

/// Test and drill helper: the store's stale-branch entries kept as evidence, `(seq, reconciled_as)`.
pub fn stale_entries(conn: &Connection) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut st = conn.prepare("SELECT seq, reconciled_as FROM stale_entries ORDER BY recovery, seq")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_pause_only_when_the_clock_has_started_a_day_that_has_not() {
        let tz: chrono_tz::Tz = "America/Toronto".parse().unwrap();
        let noon = 1_795_366_800_000; // 2026-11-22 12:00 in Toronto
        let hour = 3_600_000;
        // An hour ahead at noon: the same business day, an alert but no pause.
        assert_eq!(clock_refusal(tz, noon, &ClockProblem::new(hour, "hq")), None);
        // A day ahead: a day that has not started.
        let refusal = clock_refusal(tz, noon + 24 * hour, &ClockProblem::new(24 * hour, "hq")).unwrap();
        assert!(refusal.contains("2026-11-23") && refusal.contains("2026-11-22"), "{refusal}");
        // Twenty minutes ahead at 23:50: past midnight by the store's clock only.
        let late = noon + 11 * hour + 50 * 60_000;
        assert!(clock_refusal(tz, late + 20 * 60_000, &ClockProblem::new(20 * 60_000, "monotonic")).is_some());
        // Behind never pauses; extreme values do not overflow.
        assert_eq!(clock_refusal(tz, noon, &ClockProblem::new(-24 * hour, "hq")), None);
        let _ = clock_refusal(tz, i64::MIN, &ClockProblem::new(i64::MAX, "hq"));
        let _ = ClockProblem::new(i64::MIN, "hq");
    }
}
