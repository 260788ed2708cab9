//! The store node: one SQLite file, one writer thread that group-commits commands, a small pool
//! of read connections. A command is acknowledged only after its transaction has committed with
//! `synchronous=FULL` in WAL mode.

use crate::apply::apply;
use crate::clock::Clock;
use crate::error::StoreError;
use crate::integrity::{Health, WitnessFile};
use ed25519_dalek::SigningKey;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use stockade_domain::rules::{RuleBook, RulePack};
use stockade_journal::witness::WitnessRecord;
use stockade_journal::{Checkpoint, Envelope, Event, Hash, StoredEntry, FORMAT_VERSION, GENESIS};
use tokio::sync::oneshot;

pub const DB_FILE: &str = "store.db";
pub const KEY_FILE: &str = "store.key";
/// Held shared by every open store and exclusively by `store repair`.
pub const LOCK_FILE: &str = "store.lock";
/// Most commands folded into one commit.
pub const MAX_BATCH: usize = 64;
/// A signed checkpoint is stored whenever a commit crosses a multiple of this many entries.
pub const CHECKPOINT_EVERY: u64 = 256;
const READ_POOL: usize = 8;
/// Commits between copies of the write-ahead log into the database file.
const WAL_CHECKPOINT_EVERY: u32 = 200;

/// Store identity and settings, read from the journal's first entry.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    pub store_id: String,
    pub name: String,
    pub jurisdiction: String,
    pub timezone: chrono_tz::Tz,
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    // FULL: a commit is on disk before it returns. NORMAL can lose acknowledged sales on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Inserts an entry into the journal table: the one statement every path that writes journal
/// rows uses (the writer, restore, repair, reconciliation).
pub(crate) fn insert_entry(conn: &Connection, e: &StoredEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO journal (seq, recorded_at, actor, kind, bytes, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.seq as i64, e.at_ms, e.actor, e.kind, e.bytes, &e.prev_hash[..], &e.hash[..]],
    )?;
    Ok(())
}

/// Inserts a signed checkpoint (with HQ's co-signature when there is one).
pub(crate) fn insert_checkpoint(conn: &Connection, cp: &Checkpoint, signature: &[u8], hq_signature: Option<&[u8]>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO checkpoints (size, head, signature, hq_signature) VALUES (?1, ?2, ?3, ?4)",
        params![cp.size as i64, &cp.head[..], signature, hq_signature],
    )?;
    Ok(())
}

/// Creates the newest schema in a new, empty database file.
pub(crate) fn create_schema(conn: &Connection, dir: &Path, now_ms: i64) -> Result<(), StoreError> {
    crate::migrate::migrate(conn, dir, now_ms).map(|_| ())
}

/// Everything a command sees while it runs inside the writer's transaction.
pub struct Tx<'a> {
    conn: &'a Connection,
    store_id: &'a str,
    head: &'a mut (u64, Hash),
    rng: &'a Mutex<ChaCha20Rng>,
    now_ms: i64,
    /// Set while the database is damaged: nothing is appended (see `integrity`).
    refuse: Option<&'a str>,
    /// Set while the witness file cannot be written: nothing is appended unwitnessed.
    witness_down: Option<&'a str>,
    /// Set while the disk is full: nothing is appended (operational writes such as sign-in go on).
    disk_full: Option<&'a str>,
    /// Set while the clock is ahead of the trusted time: nothing is appended (a sale would be
    /// booked on a business day that has not started).
    clock_ahead: Option<&'a str>,
    effects: &'a mut Effects,
    #[cfg(feature = "test-hooks")]
    inject_panic: &'a std::sync::atomic::AtomicBool,
}

/// What a command asks the writer to do once its batch has committed.
#[derive(Default)]
pub(crate) struct Effects {
    /// The store is whole again (a reconciliation): clear the stale branch and start the
    /// witness file over from the new head.
    pub leave_stale: bool,
}

impl Tx<'_> {
    pub(crate) fn effects(&mut self) -> &mut Effects {
        self.effects
    }

    fn check_can_append(&self) -> Result<(), StoreError> {
        if let Some(m) = self.refuse {
            return Err(StoreError::Damaged(m.to_string()));
        }
        if let Some(m) = self.disk_full {
            return Err(StoreError::Unavailable { code: "disk_full", message: m.to_string() });
        }
        if let Some(m) = self.clock_ahead {
            return Err(StoreError::Unavailable { code: "clock_ahead", message: m.to_string() });
        }
        if let Some(m) = self.witness_down {
            return Err(StoreError::Unavailable {
                code: "witness_unwritable",
                message: format!(
                    "Sales are paused: {m}. Nothing goes unwitnessed; free disk space (or fix the folder's permissions) and selling resumes by itself."
                ),
            });
        }
        Ok(())
    }

    /// Seals the next entry and inserts it into the journal (its projections are the caller's).
    fn seal_next(&mut self, actor: &str, event: Event) -> Result<(u64, Envelope, StoredEntry), StoreError> {
        self.check_can_append()?;
        let seq = self.head.0 + 1;
        let env = Envelope { v: FORMAT_VERSION, store: self.store_id.to_string(), seq, at_ms: self.now_ms, actor: actor.to_string(), event };
        let e = StoredEntry::seal(&env, self.head.1).map_err(|err| StoreError::Io(err.to_string()))?;
        insert_entry(self.conn, &e)?;
        Ok((seq, env, e))
    }

    /// Moves the head (recovery only: the journal was replaced inside this transaction).
    pub(crate) fn set_head(&mut self, head: (u64, Hash)) {
        *self.head = head;
    }
    /// Appends an entry whose event is applied as a replay does: if it cannot be applied it is
    /// named in `projection_faults` instead of failing the command (re-recorded entries).
    pub(crate) fn append_replayed(&mut self, actor: &str, event: Event) -> Result<u64, StoreError> {
        let (seq, env, e) = self.seal_next(actor, event)?;
        crate::migrate::replay_entry(self.conn, seq, &env)?;
        *self.head = (seq, e.hash);
        Ok(seq)
    }
}

impl Tx<'_> {
    pub fn conn(&self) -> &Connection {
        self.conn
    }
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }
    /// A 128-bit identifier from the node's (seedable) generator, as 32 hex digits.
    pub fn new_id(&self) -> String {
        let mut b = [0u8; 16];
        match self.rng.lock() {
            Ok(mut r) => r.fill_bytes(&mut b),
            Err(p) => p.into_inner().fill_bytes(&mut b),
        }
        hex::encode(b)
    }
    pub fn head(&self) -> (u64, Hash) {
        *self.head
    }
    /// Appends one journal entry and applies it to the projections, inside the transaction.
    pub fn append(&mut self, actor: &str, event: Event) -> Result<u64, StoreError> {
        let (seq, env, e) = self.seal_next(actor, event)?;
        apply(self.conn, seq, &env)?;
        // Test hook: panic once the entry and its projections are written, so the test shows
        // they are rolled back with the command.
        #[cfg(feature = "test-hooks")]
        if self.inject_panic.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("injected panic (test hook) after appending entry {seq}");
        }
        *self.head = (seq, e.hash);
        Ok(seq)
    }
}

/// Why a batch's COMMIT failed.
enum CommitError {
    Failed(String),
    /// SQLite found the file damaged: the store stops taking sales (the message says why).
    Damaged(String),
    /// The disk is full.
    Full(String),
}

trait Job: Send {
    /// Runs the command; returns whether it succeeded (a failed command is rolled back alone).
    fn run(&mut self, tx: &mut Tx<'_>) -> bool;
    /// Records that the command failed without returning (it panicked).
    fn fail(&mut self, e: StoreError);
    /// Called after the batch's COMMIT (or its failure): only now is the caller answered.
    fn finish(self: Box<Self>, commit_error: Option<&CommitError>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send, F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send> Job for TypedJob<T, F> {
    fn run(&mut self, tx: &mut Tx<'_>) -> bool {
        let r = match self.f.take() {
            Some(f) => f(tx),
            None => Err(StoreError::Io("command ran twice".into())),
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }
    fn fail(&mut self, e: StoreError) {
        self.result = Some(Err(e));
    }
    fn finish(self: Box<Self>, commit_error: Option<&CommitError>) {
        let r = match (commit_error, self.result) {
            (Some(CommitError::Failed(e)), _) => Err(StoreError::Io(format!("commit failed, nothing was recorded: {e}"))),
            (Some(CommitError::Damaged(m)), _) => Err(StoreError::Damaged(m.clone())),
            (Some(CommitError::Full(m)), _) => Err(StoreError::Unavailable { code: "disk_full", message: m.clone() }),
            (None, Some(r)) => r,
            (None, None) => Err(StoreError::Io("command did not run".into())),
        };
        let _ = self.reply.send(r);
    }
}

/// A short random id naming one incident in the log and in the answer (from the OS, so a panic
/// does not shift the node's seedable sequence of ids).
fn incident_id() -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Owns the write connection and the journal head.
pub(crate) struct Writer {
    conn: Connection,
    store_id: String,
    key: SigningKey,
    head: (u64, Hash),
    rng: Arc<Mutex<ChaCha20Rng>>,
    clock: Arc<dyn Clock>,
    force_checkpoint: bool,
    /// The witness file (none only if it could not be opened: then `health` says so).
    witness: Option<WitnessFile>,
    /// Commits since the write-ahead log was last copied into the database file.
    since_wal_checkpoint: u32,
    /// While the disk is full: when the reserve file was last tried again.
    last_reserve_probe: Option<std::time::Instant>,
    /// The clock's reading and the monotonic instant taken together (at start, or when HQ
    /// confirmed the clock): a wall clock that drifts from it has jumped.
    clock_reference: (i64, i64),
    /// The store's time zone (a business day is a local day).
    tz: chrono_tz::Tz,
    dir: PathBuf,
    health: Arc<Mutex<Health>>,
    #[cfg(feature = "test-hooks")]
    inject_panic: Arc<std::sync::atomic::AtomicBool>,
}

impl Writer {
    /// Appends the witness line for the committed head (or rewrites the file to it). A failure
    /// does not undo the commit: it is logged and shown by `status`.
    fn witness(&mut self, sale_no: u64, rewrite: bool) {
        if self.witness.is_none() {
            self.witness = WitnessFile::open(&self.dir).ok();
        }
        let truth = lock(&self.health).truth;
        let record = WitnessRecord { size: self.head.0, head: self.head.1, sale_no, truth };
        let r = match self.witness.as_mut() {
            Some(w) if rewrite => w.rewrite(&self.store_id, &self.key, &record),
            Some(w) => w.append(&self.store_id, &self.key, &record),
            None => Err(std::io::Error::other("the witness file is not open")),
        };
        let mut h = lock(&self.health);
        match r {
            Ok(()) => {
                if h.witness_problem.as_deref().is_some_and(|p| p.starts_with("cannot write")) {
                    h.witness_problem = None;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write the witness file");
                h.witness_problem = Some(format!("cannot write the witness file: {e}"));
                if e.kind() == std::io::ErrorKind::StorageFull {
                    crate::integrity::release_reserve(&self.dir);
                    h.disk_full.get_or_insert_with(|| crate::integrity::disk_full_message(&self.dir));
                }
            }
        }
    }

    /// Compares the clock with the monotonic time since the reference; a jump beyond the
    /// tolerance is a clock problem until the clock comes back (or HQ confirms it).
    fn check_clock(&mut self, now_ms: i64) {
        let mut h = lock(&self.health);
        if let Some(reference) = h.clock_confirmed.take() {
            self.clock_reference = reference;
        }
        let kept = self.clock_reference.0.saturating_add(crate::integrity::steady_ms().saturating_sub(self.clock_reference.1));
        let drift = now_ms.saturating_sub(kept);
        if drift.unsigned_abs() > crate::integrity::CLOCK_TOLERANCE_MS as u64 {
            if h.clock.as_ref().is_none_or(|c| c.source == "monotonic" && c.ahead_ms.saturating_sub(drift).unsigned_abs() > 60_000) {
                tracing::error!(drift_ms = drift, "the clock jumped");
                h.clock = Some(crate::integrity::ClockProblem::new(drift, "monotonic"));
            }
        } else if h.clock.as_ref().is_some_and(|c| c.source == "monotonic") {
            tracing::warn!("the clock is back in line");
            h.clock = None;
        }
    }

    fn read_head(conn: &Connection) -> Result<(u64, Hash), StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            conn.query_row("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        Ok(match row {
            None => (0, GENESIS),
            Some((seq, h)) => (seq as u64, h.try_into().map_err(|_| StoreError::Corrupt(format!("entry {seq}: hash is not 32 bytes")))?),
        })
    }

    fn commit_batch(&mut self, mut jobs: Vec<Box<dyn Job>>) {
        let start = self.head;
        let now_ms = self.clock.now_ms();
        let mut sale_no = None;
        // A full disk: every 2 s the reserve file is written again; once it fits, there is room
        // again and sales resume by themselves.
        if lock(&self.health).disk_full.is_some() && self.last_reserve_probe.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(2)) {
            self.last_reserve_probe = Some(std::time::Instant::now());
            if crate::integrity::room_for_reserve(&self.dir) && crate::integrity::ensure_reserve(&self.dir).is_ok() {
                tracing::warn!("disk space is back: taking sales again");
                lock(&self.health).disk_full = None;
            }
        }
        if !self.clock.is_manual() {
            self.check_clock(now_ms);
        }
        let damaged = lock(&self.health).damaged.clone();
        let disk_full = lock(&self.health).disk_full.clone();
        let clock_ahead = lock(&self.health).clock.as_ref().and_then(|c| crate::integrity::clock_refusal(self.tz, now_ms, c));
        // A witness that could not be written is tried again first; while it still fails,
        // nothing is appended (a sale must never go unwitnessed).
        if witness_failing(&lock(&self.health)) {
            if let Ok(n) = crate::integrity::sale_no_high(&self.conn) {
                self.witness(n, false);
            }
        }
        let witness_down = {
            let h = lock(&self.health);
            h.witness_problem.clone().filter(|_| witness_failing(&h))
        };
        let mut effects = Effects::default();
        let result = (|| -> Result<(), rusqlite::Error> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            for job in jobs.iter_mut() {
                self.conn.execute_batch("SAVEPOINT cmd")?;
                let before = self.head;
                let effects_before = effects.leave_stale;
                let ok = {
                    let mut tx = Tx {
                        conn: &self.conn,
                        store_id: &self.store_id,
                        head: &mut self.head,
                        rng: &self.rng,
                        now_ms,
                        refuse: damaged.as_deref(),
                        disk_full: disk_full.as_deref(),
                        clock_ahead: clock_ahead.as_deref(),
                        witness_down: witness_down.as_deref(),
                        effects: &mut effects,
                        #[cfg(feature = "test-hooks")]
                        inject_panic: &self.inject_panic,
                    };
                    // A panicking command is one failed command: rolled back alone, answered with
                    // an incident id, and the writer keeps serving the others.
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx))) {
                        Ok(ok) => ok,
                        Err(payload) => {
                            let incident = incident_id();
                            let message = payload
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| payload.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "(no message)".into());
                            tracing::error!(incident = %incident, panic = %message.escape_debug(), "a command panicked; it was rolled back and the store keeps serving");
                            job.fail(StoreError::Incident(incident));
                            false
                        }
                    }
                };
                if !ok {
                    self.conn.execute_batch("ROLLBACK TO cmd")?;
                    self.head = before;
                    // What a failed command asked for is undone with it.
                    effects.leave_stale = effects_before;
                }
                self.conn.execute_batch("RELEASE cmd")?;
            }
            if (self.head != start || self.force_checkpoint) && damaged.is_none() {
                let st = crate::integrity::write_head(&self.conn, &self.store_id, &self.key, self.head.0, &self.head.1).map_err(store_to_sql)?;
                sale_no = Some(st.sale_no);
                let cp = Checkpoint { store_id: self.store_id.clone(), size: self.head.0, head: self.head.1 };
                let crossed = self.head.0 / CHECKPOINT_EVERY > start.0 / CHECKPOINT_EVERY;
                if (crossed || self.force_checkpoint) && self.head.0 > 0 {
                    let sig = cp.sign(&self.key);
                    self.conn.execute(
                        "INSERT OR IGNORE INTO checkpoints (size, head, signature) VALUES (?1, ?2, ?3)",
                        params![cp.size as i64, &cp.head[..], &sig[..]],
                    )?;
                }
            }
            self.conn.execute_batch("COMMIT")
        })();
        self.force_checkpoint = false;
        match result {
            Ok(()) => {
                // Witnessed before anyone is told the commit happened.
                if effects.leave_stale {
                    {
                        let mut h = lock(&self.health);
                        h.truth = None;
                        h.state.clear();
                    }
                    let n = sale_no.map(Ok).unwrap_or_else(|| crate::integrity::sale_no_high(&self.conn)).unwrap_or(0);
                    self.witness(n, true);
                } else if let Some(n) = sale_no {
                    self.witness(n, false);
                }
                jobs.into_iter().for_each(|j| j.finish(None));
                // The write-ahead log is copied into the database file regularly, so a lost or
                // cut log costs minutes of entries (which HQ gives back), not days.
                self.since_wal_checkpoint += 1;
                if self.since_wal_checkpoint >= WAL_CHECKPOINT_EVERY {
                    self.since_wal_checkpoint = 0;
                    if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "write-ahead log checkpoint failed");
                    }
                }
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.head = start;
                tracing::error!(error = %e, "commit failed; batch rolled back");
                let err = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
                    // Room for sign-in and alerts: the reserve goes back to the disk.
                    crate::integrity::release_reserve(&self.dir);
                    self.last_reserve_probe = Some(std::time::Instant::now());
                    let m = crate::integrity::disk_full_message(&self.dir);
                    lock(&self.health).disk_full.get_or_insert(m.clone());
                    CommitError::Full(m)
                } else if crate::verify::is_corruption(&e) {
                    let m = crate::integrity::damaged_message(&self.dir, &e.to_string());
                    CommitError::Damaged(lock(&self.health).damaged.get_or_insert(m).clone())
                } else {
                    CommitError::Failed(e.to_string())
                };
                jobs.into_iter().for_each(|j| j.finish(Some(&err)));
            }
        }
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Checkpoint(oneshot::Sender<()>),
    /// Rewrite the witness file to the current head alone (after a recovery).
    ResetWitness(oneshot::Sender<Result<(), StoreError>>),
}

fn witness_failing(h: &Health) -> bool {
    h.witness_problem.as_deref().is_some_and(|p| p.starts_with("cannot write"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn store_to_sql(e: StoreError) -> rusqlite::Error {
    match e {
        StoreError::Db(e) => e,
        other => rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(other.to_string()))),
    }
}

struct Inner {
    dir: PathBuf,
    db_path: PathBuf,
    info: StoreInfo,
    rules: RuleBook,
    clock: Arc<dyn Clock>,
    customer_key: [u8; 32],
    /// The retailer's data key for customer records (see `customers`).
    retailer_key: [u8; 32],
    retention_days: std::sync::atomic::AtomicI64,
    public_key: ed25519_dalek::VerifyingKey,
    /// For signing sync requests and checkpoints of past sizes (replication).
    key: SigningKey,
    /// `None` once the store is being closed.
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    /// The writer thread, joined when the last handle is dropped (so the database is closed,
    /// its write-ahead log synced, when `drop` returns).
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    health: Arc<Mutex<Health>>,
    /// Failed sign-ins per name and address (in memory).
    attempts: crate::signin::Attempts,
    checkout: std::sync::RwLock<crate::checkout::CheckoutPolicy>,
    /// The shared lock on `store.lock`, released when the store is closed.
    _lock: std::fs::File,
    #[cfg(feature = "test-hooks")]
    inject_panic: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stop the writer and wait for it (unless this runs on the writer itself, when a
        // command held the last handle).
        lock(&self.tx).take();
        if let Some(h) = lock(&self.writer).take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

/// A handle to an open store node. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What `init` needs besides the folder.
pub struct InitOptions {
    pub name: String,
    pub jurisdiction: String,
    pub manager_username: String,
    pub manager_password: String,
}

pub(crate) fn write_key_file(path: &Path, key: &SigningKey) -> Result<(), StoreError> {
    stockade_journal::keyfile::write(path, key).map_err(|e| StoreError::Io(e.to_string()))
}

pub(crate) fn read_key_file(path: &Path) -> Result<SigningKey, StoreError> {
    stockade_journal::keyfile::read(path).map_err(|e| StoreError::Io(e.to_string()))
}

impl Store {
    /// Creates a new store in `dir` (which must not hold one): key, database, first entries.
    pub fn init(dir: &Path, opts: &InitOptions, clock: Arc<dyn Clock>) -> Result<String, StoreError> {
        let rules = RuleBook::builtin().map_err(|e| StoreError::Io(e.to_string()))?;
        let today = chrono::DateTime::from_timestamp_millis(clock.now_ms()).map(|t| t.date_naive()).unwrap_or_default();
        let pack = rules.pack_for(&opts.jurisdiction, today).map_err(|e| StoreError::invalid("unknown_jurisdiction", e.to_string()))?;
        crate::auth::check_new_credentials(&opts.manager_username, &opts.manager_password)?;
        if opts.name.trim().is_empty() || opts.name.len() > 120 {
            return Err(StoreError::invalid("invalid_name", "a store name of 1 to 120 characters is required"));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let db_path = dir.join(DB_FILE);
        if db_path.exists() || dir.join(KEY_FILE).exists() {
            return Err(StoreError::conflict("already_initialized", format!("{} already holds a store", dir.display())));
        }
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let key = SigningKey::from_bytes(&seed);
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let store_id = uuid::Builder::from_random_bytes(id).into_uuid().to_string();
        write_key_file(&dir.join(KEY_FILE), &key)?;

        let conn = open_connection(&db_path, false)?;
        create_schema(&conn, dir, clock.now_ms())?;
        let mut writer = Writer {
            conn,
            store_id: store_id.clone(),
            key: key.clone(),
            head: (0, GENESIS),
            rng: Arc::new(Mutex::new(ChaCha20Rng::from_rng(rand::rngs::OsRng).map_err(|e| StoreError::Io(e.to_string()))?)),
            clock_reference: (clock.now_ms(), crate::integrity::steady_ms()),
            tz: pack.timezone.parse().unwrap_or(chrono_tz::UTC),
            clock,
            force_checkpoint: true,
            witness: Some(WitnessFile::open(dir).map_err(|e| StoreError::Io(format!("cannot create the witness file: {e}")))?),
            since_wal_checkpoint: 0,
            last_reserve_probe: None,
            dir: dir.to_path_buf(),
            health: Default::default(),
            #[cfg(feature = "test-hooks")]
            inject_panic: Default::default(),
        };
        let (reply, rx) = oneshot::channel();
        let name = opts.name.trim().to_string();
        let jurisdiction = pack.id.clone();
        let timezone = pack.timezone.clone();
        let public_key = hex::encode(key.verifying_key().to_bytes());
        let username = opts.manager_username.clone();
        let hash = crate::auth::hash_password(&opts.manager_password)?;
        let sid = store_id.clone();
        let job = TypedJob {
            f: Some(move |tx: &mut Tx<'_>| {
                tx.append("system", Event::StoreInitialized { store_id: sid, name, jurisdiction, timezone, public_key })?;
                crate::auth::add_staff_in_tx(tx, "system", &username, &username, stockade_journal::event::Role::Manager, &hash)?;
                Ok(())
            }),
            result: None,
            reply,
        };
        writer.commit_batch(vec![Box::new(job)]);
        rx.blocking_recv().map_err(|_| StoreError::Io("writer stopped".into()))??;
        Ok(store_id)
    }

    /// Opens an existing store. Refuses to start when the signed head does not match the journal.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>, seed: Option<u64>) -> Result<Store, StoreError> {
        let db_path = dir.join(DB_FILE);
        if !db_path.exists() {
            return Err(StoreError::Io(format!("no store in {}: run `stockade store init --data {}` first", dir.display(), dir.display())));
        }
        let key = read_key_file(&dir.join(KEY_FILE))?;
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", dir.join(LOCK_FILE).display())))?;
        lock_file
            .try_lock_shared()
            .map_err(|_| StoreError::Io("the store is being repaired (`stockade store repair`): start it again once the repair is done".into()))?;
        let conn = open_connection(&db_path, false)?;
        // A database written by a newer release is refused here; an older one is backed up
        // and migrated (see `migrate.rs`).
        crate::migrate::migrate(&conn, dir, clock.now_ms())?;
        // Everything committed before this start goes into the database file now.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        // The witness is read before the head: a store serving meanwhile writes its witness
        // line after its commit, so the head read next is never behind the witness read here.
        let witness_bytes = std::fs::read(dir.join(crate::integrity::WITNESS_FILE)).ok();
        let info = read_info(&conn)?;
        let head = Writer::read_head(&conn)?;
        let witness = witness_bytes.map(|b| stockade_journal::witness::Witness::read(&b, &info.store_id, &key.verifying_key()));
        // The witness against the journal: a database that went back in time is found here,
        // before the next sale (see `integrity`). Also checks the signed head.
        let (start, health) = crate::integrity::check_at_start(&conn, dir, &info.store_id, &key, head, witness, clock.now_ms())?;
        let health = Arc::new(Mutex::new(health));
        let witness = match WitnessFile::open(dir) {
            Ok(w) => Some(w),
            Err(e) => {
                lock(&health).witness_problem = Some(format!("cannot write the witness file: {e}"));
                None
            }
        };
        if let Err(e) = crate::integrity::ensure_reserve(dir) {
            tracing::error!(error = %e, "cannot write the disk reserve: the disk is full or read-only");
            lock(&health).disk_full = Some(crate::integrity::disk_full_message(dir));
        }
        let fresh_witness = crate::integrity::read_witness(dir, &info.store_id, &key.verifying_key())?.is_none_or(|w| w.lines == 0);
        let rules = RuleBook::builtin().map_err(|e| StoreError::Io(e.to_string()))?;
        let rng = match seed {
            Some(s) => ChaCha20Rng::seed_from_u64(s),
            None => ChaCha20Rng::from_rng(rand::rngs::OsRng).map_err(|e| StoreError::Io(e.to_string()))?,
        };
        let customer_key = blake3::derive_key("stockade customer id v1", &key.to_bytes());
        let retailer_key = crate::customers::load_or_create_key(dir)?;
        let public_key = key.verifying_key();
        let signing_key = key.clone();
        #[cfg(feature = "test-hooks")]
        let inject_panic: Arc<std::sync::atomic::AtomicBool> = Default::default();
        let mut writer = Writer {
            conn,
            store_id: info.store_id.clone(),
            key,
            head,
            rng: Arc::new(Mutex::new(rng)),
            clock: clock.clone(),
            force_checkpoint: false,
            witness,
            since_wal_checkpoint: 0,
            last_reserve_probe: None,
            clock_reference: (clock.now_ms(), crate::integrity::steady_ms()),
            tz: info.timezone,
            dir: dir.to_path_buf(),
            health: health.clone(),
            #[cfg(feature = "test-hooks")]
            inject_panic: inject_panic.clone(),
        };
        if fresh_witness || matches!(start, crate::integrity::Start::Stale { detected: true, .. }) {
            let n = crate::integrity::sale_no_high(&writer.conn)?;
            writer.witness(n, true);
        }
        if let crate::integrity::Start::Stale { truth, local_size, detected: true } = start {
            // Journaled, so HQ hears of it too (after the reconciliation, at the latest).
            let message = format!(
                "the database went back in time: it ends at entry {local_size} but entry {} was witnessed; selling on a stale branch until HQ returns the missing entries",
                truth.size
            );
            let (reply, mut rx) = oneshot::channel();
            let job = TypedJob {
                f: Some(move |tx: &mut Tx<'_>| tx.append("system", Event::SecurityAlert { alert_kind: "rollback".into(), message })),
                result: None,
                reply,
            };
            writer.commit_batch(vec![Box::new(job)]);
            rx.try_recv().map_err(|_| StoreError::Io("the rollback alert was not recorded".into()))??;
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let writer_thread = std::thread::Builder::new()
            .name("stockade-writer".into())
            .spawn(move || {
                let mut pending: Vec<oneshot::Sender<()>> = Vec::new();
                let mut resets: Vec<oneshot::Sender<Result<(), StoreError>>> = Vec::new();
                while let Ok(first) = rx.recv() {
                    let mut batch: Vec<Box<dyn Job>> = Vec::new();
                    let mut push = |m: Msg, batch: &mut Vec<Box<dyn Job>>, writer: &mut Writer| match m {
                        Msg::Job(j) => batch.push(j),
                        Msg::Checkpoint(done) => {
                            writer.force_checkpoint = true;
                            pending.push(done);
                        }
                        Msg::ResetWitness(done) => resets.push(done),
                    };
                    push(first, &mut batch, &mut writer);
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => push(m, &mut batch, &mut writer),
                            Err(_) => break,
                        }
                    }
                    // Commands catch their own panics; this guard keeps the writer alive if the
                    // commit itself panics (the batch's callers then see the writer's error).
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.commit_batch(batch))).is_err() {
                        let _ = writer.conn.execute_batch("ROLLBACK");
                        match Writer::read_head(&writer.conn) {
                            Ok(h) => writer.head = h,
                            Err(e) => tracing::error!(error = %e, "cannot re-read the journal head after a panic"),
                        }
                        tracing::error!("a commit panicked; it was rolled back and the store keeps serving");
                    }
                    pending.drain(..).for_each(|d| {
                        let _ = d.send(());
                    });
                    if !resets.is_empty() {
                        let r = crate::integrity::sale_no_high(&writer.conn).map(|n| writer.witness(n, true));
                        let problem = lock(&writer.health).witness_problem.clone();
                        for d in resets.drain(..) {
                            let _ = d.send(match (&r, &problem) {
                                (Err(e), _) => Err(StoreError::Io(e.to_string())),
                                (Ok(()), Some(p)) if p.starts_with("cannot write") => Err(StoreError::Io(p.clone())),
                                _ => Ok(()),
                            });
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Io(format!("cannot start writer thread: {e}")))?;
        let store = Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                db_path,
                info,
                rules,
                clock,
                customer_key,
                retailer_key,
                retention_days: std::sync::atomic::AtomicI64::new(crate::customers::DEFAULT_RETENTION_DAYS),
                public_key,
                key: signing_key,
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer_thread)),
                readers: Mutex::new(Vec::new()),
                health,
                attempts: crate::signin::Attempts::default(),
                checkout: std::sync::RwLock::new(crate::checkout::CheckoutPolicy::default()),
                _lock: lock_file,
                #[cfg(feature = "test-hooks")]
                inject_panic,
            }),
        };
        Ok(store)
    }

    /// Compares the store's clock with HQ's, read from an answer to a request sent at
    /// `sent_ms` (store time). Off by more than the tolerance: a clock problem (sales paused
    /// when ahead); within it: the clock is confirmed and any problem cleared.
    pub fn observe_hq_clock(&self, sent_ms: i64, hq_ms: i64) {
        let ahead = sent_ms.saturating_sub(hq_ms);
        let mut h = lock(&self.inner.health);
        if ahead.unsigned_abs() > crate::integrity::CLOCK_TOLERANCE_MS as u64 {
            if h.clock.as_ref().is_none_or(|c| c.source != "hq" || c.ahead_ms.saturating_sub(ahead).unsigned_abs() > 60_000) {
                tracing::error!(ahead_ms = ahead, "the store's clock is off HQ's");
                h.clock = Some(crate::integrity::ClockProblem::new(ahead, "hq"));
            }
        } else {
            if h.clock.is_some() {
                tracing::warn!("the store's clock agrees with HQ's again");
            }
            h.clock = None;
            h.clock_confirmed = Some((sent_ms, crate::integrity::steady_ms()));
        }
    }

    /// The store's integrity now (stale branch, witness problems).
    pub fn health(&self) -> Health {
        lock(&self.inner.health).clone()
    }

    /// Marks the database damaged: from now on nothing is appended to the journal.
    pub fn set_damaged(&self, message: String) {
        let mut h = lock(&self.inner.health);
        if h.damaged.is_none() {
            tracing::error!(message = %message.escape_debug(), "the store's database is damaged: sales stopped");
            h.damaged = Some(message);
        }
    }

    /// Runs the full check (`store verify`: SQLite's integrity check, every hash and signature,
    /// the projections replayed and compared) in the background, `first` after start and then
    /// every `every`; damage found stops sales (see [`Store::set_damaged`]).
    pub fn watch(&self, first: std::time::Duration, every: std::time::Duration) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new().name("stockade-verify".into()).spawn(move || {
            let mut wait = first;
            loop {
                std::thread::sleep(wait);
                wait = every;
                let Some(inner) = weak.upgrade() else { return };
                let store = Store { inner };
                if store.health().damaged.is_some() {
                    return;
                }
                match crate::verify::verify_store(store.dir()) {
                    Ok(_) => tracing::debug!("background verify: intact"),
                    Err(Ok(finding)) if finding.is_damage() => {
                        store.set_damaged(crate::integrity::damaged_message(store.dir(), &finding.to_string()));
                        return;
                    }
                    Err(Ok(finding)) => tracing::warn!(%finding, "background verify"),
                    Err(Err(StoreError::Db(e))) if crate::verify::is_corruption(&e) => {
                        store.set_damaged(crate::integrity::damaged_message(store.dir(), &e.to_string()));
                        return;
                    }
                    Err(Err(e)) => tracing::warn!(error = %e, "background verify could not run"),
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the background verify");
        }
    }

    pub(crate) fn set_truth(&self, truth: Option<stockade_journal::witness::Truth>) {
        let mut h = lock(&self.inner.health);
        h.truth = truth;
        if truth.is_none() {
            h.state.clear();
        }
    }

    /// Rewrites the witness file to the current head alone (after a recovery).
    pub(crate) async fn reset_witness(&self) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.send(Msg::ResetWitness(done))?;
        rx.await.map_err(|_| StoreError::Io("the writer has stopped".into()))?
    }

    /// Test hook: the next journal entry appended panics right after it and its projections are
    /// written (to show a panic is one failed command, rolled back, not a dead store). Compiled
    /// only with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn inject_panic_in_next_command(&self) {
        self.inner.inject_panic.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn info(&self) -> &StoreInfo {
        &self.inner.info
    }
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }
    /// The limits on online checkout (see `checkout`).
    pub fn checkout_policy(&self) -> crate::checkout::CheckoutPolicy {
        *self.inner.checkout.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_checkout_policy(&self, policy: crate::checkout::CheckoutPolicy) -> Result<(), StoreError> {
        let policy = policy.checked().map_err(|m| StoreError::invalid("invalid_policy", m))?;
        *self.inner.checkout.write().unwrap_or_else(|e| e.into_inner()) = policy;
        Ok(())
    }

    pub(crate) fn attempts(&self) -> &crate::signin::Attempts {
        &self.inner.attempts
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
    pub fn public_key(&self) -> ed25519_dalek::VerifyingKey {
        self.inner.public_key
    }
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.inner.key
    }
    pub(crate) fn retailer_key(&self) -> &[u8; 32] {
        &self.inner.retailer_key
    }

    /// How long new customer records are kept (days, at least 1).
    pub fn set_customer_retention_days(&self, days: i64) {
        // One day to a century: the expiry time (now + days) stays far inside i64 milliseconds.
        self.inner.retention_days.store(days.clamp(1, 36_500), std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn retention_days(&self) -> i64 {
        self.inner.retention_days.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn customer_key(&self) -> &[u8; 32] {
        &self.inner.customer_key
    }

    /// The store's rule pack in effect at `at_ms`.
    pub fn pack_at(&self, at_ms: i64) -> Result<&RulePack, StoreError> {
        let date = crate::apply::local_date(self.inner.info.timezone, at_ms);
        let date = date.parse().map_err(|_| StoreError::Io("bad local date".into()))?;
        self.inner.rules.pack_for(&self.inner.info.jurisdiction, date).map_err(|e| StoreError::Io(e.to_string()))
    }

    fn send(&self, m: Msg) -> Result<(), StoreError> {
        let guard = self.inner.tx.lock().map_err(|_| StoreError::Io("writer lock poisoned".into()))?;
        guard.as_ref().ok_or_else(|| StoreError::Io("the store is closing".into()))?.send(m).map_err(|_| StoreError::Io("the writer has stopped".into()))
    }

    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Job(Box::new(TypedJob { f: Some(f), result: None, reply })))?;
        Ok(rx)
    }

    /// Runs a command in the writer; resolves once it is durably committed (or refused).
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let r = self.submit(f)?.await.map_err(|_| StoreError::Io("the writer has stopped".into()))?;
        self.damage_check(r)
    }

    /// A command or read that failed because SQLite found the file damaged stops sales at once
    /// (rather than answering "internal error" until the background check notices).
    fn damage_check<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match r {
            Err(StoreError::Db(e)) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                crate::integrity::release_reserve(self.dir());
                let message = crate::integrity::disk_full_message(self.dir());
                lock(&self.inner.health).disk_full.get_or_insert(message.clone());
                Err(StoreError::Unavailable { code: "disk_full", message })
            }
            Err(StoreError::Db(e)) if crate::verify::is_corruption(&e) => {
                let message = crate::integrity::damaged_message(self.dir(), &e.to_string());
                self.set_damaged(message.clone());
                Err(StoreError::Damaged(message))
            }
            other => other,
        }
    }

    /// Same as [`Store::write`] for synchronous callers (CLI, simulations). Not from async code.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f)?.blocking_recv().map_err(|_| StoreError::Io("the writer has stopped".into()))?
    }

    /// Forces a signed checkpoint of the current head (minute ticker, till close, sync).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.send(Msg::Checkpoint(done))?;
        rx.await.map_err(|_| StoreError::Io("the writer has stopped".into()))
    }

    /// Runs a read on a pooled read-only connection (WAL: never blocks the writer).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = match self.inner.readers.lock().ok().and_then(|mut p| p.pop()) {
            Some(c) => c,
            None => open_connection(&self.inner.db_path, true)?,
        };
        let r = f(&conn);
        if let Ok(mut pool) = self.inner.readers.lock() {
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
        }
        self.damage_check(r)
    }

    /// [`Store::read`] on a blocking thread, for async callers.
    pub async fn read_async<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || s.read(f)).await.map_err(|e| StoreError::Io(e.to_string()))?
    }
}

pub(crate) fn read_info(conn: &Connection) -> Result<StoreInfo, StoreError> {
    let (store_id, name, jurisdiction, tz): (String, String, String, String) = conn
        .query_row("SELECT store_id, name, jurisdiction, timezone FROM store_info WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?
        .ok_or_else(|| StoreError::Corrupt("store_info is missing: the store was never initialized".into()))?;
    let timezone = tz.parse().map_err(|_| StoreError::Corrupt(format!("unknown time zone '{tz}'")))?;
    Ok(StoreInfo { store_id, name, jurisdiction, timezone })
}
