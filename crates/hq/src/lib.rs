//! Head office: the registry of retailers and stores (HQ's own signed journal), ingest of store
//! journals with co-signed checkpoints, derived reporting tables, verification and rebuild.
//! Storage is SQLite (embedded default) or PostgreSQL through [`db::Db`]; the logic is written
//! once. No HTTP here: `stockade-web` serves it.

#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod db;
pub mod export;
pub mod migrate;
pub mod project;
pub mod rebuild;
pub mod replenish;
pub mod report;
pub mod schema;
pub mod sdc;
pub mod trust;
pub mod verify;

use access::{Action, Decision, HqRole, Principal, Scope};
use audit::AuditEvent;
use db::{Db, DbError, Tx, Val};
use ed25519_dalek::{SigningKey, VerifyingKey};
use project::StoreCtx;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use stockade_journal::hq_event::{HqEnvelope, HqEvent};
use stockade_journal::{chain_hash, ChainVerifier, Checkpoint, Hash, SignedCheckpoint, FORMAT_VERSION, GENESIS};

pub const KEY_FILE: &str = "hq.key";
pub const DB_FILE: &str = "hq.db";
/// Most entries HQ accepts in one batch.
pub const MAX_BATCH_ENTRIES: usize = 2000;
/// Failed sign-ins within [`FAILED_SIGN_IN_WINDOW_MS`] that raise a `failed_logins` alert.
pub const FAILED_SIGN_INS_ALERT: i64 = 10;
pub const FAILED_SIGN_IN_WINDOW_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum HqError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{what} '{id}' does not exist")]
    NotFound { what: &'static str, id: String },
    /// The request conflicts with HQ's state; `hq_size` tells a pushing store where HQ is.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, hq_size: Option<u64> },
    /// Refused as forged or inconsistent with what the store signed before; raised as an alert.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// No valid token: who is asking is not known.
    #[error("unknown or revoked token")]
    Unauthorized,
    /// Known, but not allowed to do this (the refusal is audited).
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A store entry HQ keeps but cannot apply to its figures (a kind written by a newer
    /// release, or a total that would leave its range): recorded in `unprojected` and alerted.
    #[error("store {store_id} entry {seq} ({kind}) is not in HQ's figures: {reason}")]
    Unprojectable { store_id: String, seq: u64, kind: String, reason: String },
    /// The database was written by a newer release.
    #[error("the HQ database has schema version {found} but this release of stockade knows versions up to {known}: run the newer release (or restore a backup made before the upgrade)")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("{0}")]
    Io(String),
}

fn invalid(code: &'static str, message: impl Into<String>) -> HqError {
    HqError::Invalid { code, message: message.into() }
}

/// An entry as it travels: its sequence number and exact bytes.
pub type EntryBytes = (u64, Vec<u8>);

/// An HQ journal entry for a store (catalog publication or purchase order): (HQ seq, seq per
/// retailer or per store, exact bytes, HQ's signature hex).
pub type SignedPublication = (u64, u64, Vec<u8>, String);

pub type NowMs = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> NowMs {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

pub struct Hq {
    db: Db,
    key: SigningKey,
    hq_id: String,
    now: NowMs,
    /// Kinds treated as unknown (see [`Hq::as_release_without`]); empty in production.
    unknown_kinds: Vec<String>,
    /// The first entry of the latest rebuild from the stores (read at open: a rebuild needs HQ
    /// stopped, so it cannot change while this process runs).
    rebuilt_at: Option<u64>,
}

/// What a store learns when it enrols.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolment {
    pub hq_id: String,
    pub retailer_id: String,
    pub hq_public_key: String,
    /// Entries of this store HQ already holds (non-zero when a store re-enrols).
    pub hq_size: u64,
}

/// HQ's answer to an accepted batch: its head for the store and its co-signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAck {
    pub size: u64,
    pub head: String,
    pub hq_signature: String,
    /// HQ's signed tree head over every store's head after this push (witnessed history), when
    /// the store asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_head: Option<stockade_journal::tree::TreeHead>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreStatus {
    pub retailer_id: String,
    pub store_id: String,
    pub name: String,
    pub public_key: String,
    pub enrolled: bool,
    /// Entries HQ holds.
    pub size: u64,
    /// The store's own head at its last contact.
    pub reported_size: u64,
    pub lag: u64,
    pub last_contact_ms: Option<i64>,
    /// "ok", or why the store needs attention (forged or forked batches).
    pub integrity: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    pub at_ms: i64,
    pub retailer_id: String,
    pub store_id: String,
    pub kind: String,
    pub message: String,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

pub fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().to_ascii_lowercase().replace('-', "").as_bytes()))
}

fn hash32(v: &Val, what: &str) -> Result<Hash, HqError> {
    v.b().and_then(|b| b.try_into().ok()).ok_or_else(|| HqError::Corrupt(format!("{what}: hash is not 32 bytes")))
}

fn valid_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 40 && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Hq {
    /// Creates HQ: its key file in `dir` (mode 0600), the schema in `db` and the first entry.
    pub fn init(dir: &Path, db: Db, name: &str, now: NowMs) -> Result<Hq, HqError> {
        if name.trim().is_empty() || name.len() > 120 {
            return Err(invalid("invalid_name", "an HQ name of 1 to 120 characters is required"));
        }
        std::fs::create_dir_all(dir).map_err(|e| HqError::Io(format!("cannot create {}: {e}", dir.display())))?;
        create_schema(&db)?;
        let existing = db.tx(|tx| tx.one("SELECT COUNT(*) FROM hq_journal", &[]))?;
        if existing.and_then(|r| r[0].i()).unwrap_or(0) > 0 {
            return Err(HqError::Conflict { code: "already_initialized", message: "this database already holds an HQ".into(), hq_size: None });
        }
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let key = SigningKey::from_bytes(&seed);
        stockade_journal::keyfile::write(&dir.join(KEY_FILE), &key).map_err(|e| HqError::Io(e.to_string()))?;
        let hq_id = uuid::Uuid::new_v4().to_string();
        let hq = Hq { db, key, hq_id: hq_id.clone(), now, unknown_kinds: vec![], rebuilt_at: None };
        let public_key = hq.public_key_hex();
        // The offline root key: the only way to name a new HQ key if this one is lost.
        let root_public_key = trust::new_root_key(&dir.join(trust::ROOT_KEY_FILE))?;
        hq.append_hq("system", vec![HqEvent::HqInitialized { hq_id, name: name.trim().to_string(), public_key }, HqEvent::HqRootKeySet { root_public_key }])?;
        Ok(hq)
    }

    /// Opens HQ; refuses when the key does not match the database's HQ.
    pub fn open(dir: &Path, db: Db, now: NowMs) -> Result<Hq, HqError> {
        let key = stockade_journal::keyfile::read(&dir.join(KEY_FILE)).map_err(|e| HqError::Io(e.to_string()))?;
        // A database written by a newer release is refused; an older one is backed up and migrated.
        migrate::migrate(dir, &db, now())?;
        // The key in force: the first entry's, or the last rotation's.
        let (hq_id, public_key) = db.tx(trust::current_key_in)?;
        if public_key != hex::encode(key.verifying_key().to_bytes()) {
            return Err(HqError::Io(format!("{} is not the key of this HQ's database", dir.join(KEY_FILE).display())));
        }
        let rebuilt_at = db.tx(|tx| tx.one("SELECT MAX(seq) FROM hq_journal WHERE kind = 'hq_rebuilt'", &[]))?.and_then(|r| r[0].i()).map(|s| s as u64);
        Ok(Hq { db, key, hq_id, now, unknown_kinds: vec![], rebuilt_at })
    }

    /// This HQ as an older release that does not know `kinds` (store event kinds): their
    /// entries are stored, verified and co-signed but left out of HQ's figures, as a release
    /// that predates them would. For rollout tests; reopening normally (which runs
    /// [`migrate::reproject`]) stands for the upgrade.
    pub fn as_release_without(mut self, kinds: &[&str]) -> Hq {
        self.unknown_kinds = kinds.iter().map(|k| k.to_string()).collect();
        self
    }

    pub(crate) fn unknown_kinds(&self) -> &[String] {
        &self.unknown_kinds
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn hq_id(&self) -> &str {
        &self.hq_id
    }
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
    pub(crate) fn rebuilt_at(&self) -> Option<u64> {
        self.rebuilt_at
    }
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }
    pub fn now_ms(&self) -> i64 {
        (self.now)()
    }

    /// Appends entries to HQ's own journal, applies them, and re-signs HQ's head, in one transaction.
    fn append_hq(&self, actor: &str, events: Vec<HqEvent>) -> Result<u64, HqError> {
        self.append_hq_with(actor, |_| Ok(events))
    }

    /// [`Hq::append_hq`] with the events decided inside the same transaction (from what it
    /// reads), so two concurrent callers cannot both act on the same state: the loser's journal
    /// insert conflicts on the sequence number and its transaction is rolled back.
    pub(crate) fn append_hq_with(&self, actor: &str, make: impl FnOnce(&mut dyn db::Tx) -> Result<Vec<HqEvent>, HqError>) -> Result<u64, HqError> {
        let at_ms = self.now_ms();
        self.db.tx(|tx| {
            let events = make(tx)?;
            let last = tx.one("SELECT seq, hash FROM hq_journal ORDER BY seq DESC LIMIT 1", &[])?;
            let (mut seq, mut head) = match last {
                Some(r) => (r[0].i().unwrap_or(0) as u64, hash32(&r[1], "HQ journal head")?),
                None => (0, GENESIS),
            };
            for event in events {
                seq += 1;
                let env = HqEnvelope { v: FORMAT_VERSION, hq: self.hq_id.clone(), seq, at_ms, actor: actor.to_string(), event };
                let bytes = env.encode().map_err(|e| HqError::Io(e.to_string()))?;
                head = chain_hash(&head, &bytes);
                tx.exec(
                    "INSERT INTO hq_journal (seq, at_ms, kind, bytes, hash) VALUES ($1, $2, $3, $4, $5)",
                    &[seq.into(), at_ms.into(), env.event.kind().into(), Val::B(bytes), Val::B(head.to_vec())],
                )?;
                project::apply_hq(tx, &env)?;
            }
            let cp = Checkpoint { store_id: self.hq_id.clone(), size: seq, head };
            let sig = cp.sign(&self.key);
            tx.exec("DELETE FROM hq_head", &[])?;
            tx.exec("INSERT INTO hq_head (id, size, hash, signature) VALUES (1, $1, $2, $3)", &[seq.into(), Val::B(head.to_vec()), Val::B(sig.to_vec())])?;
            Ok(seq)
        })
    }

    pub fn add_retailer(&self, retailer_id: &str, name: &str) -> Result<(), HqError> {
        if !valid_id(retailer_id) {
            return Err(invalid("invalid_retailer_id", "a retailer id is 1 to 40 characters of a-z, 0-9 and '-'"));
        }
        if name.trim().is_empty() || name.len() > 120 {
            return Err(invalid("invalid_name", "a retailer name of 1 to 120 characters is required"));
        }
        let exists = self.db.tx(|tx| tx.one("SELECT 1 FROM retailers WHERE retailer_id = $1", &[retailer_id.into()]))?;
        if exists.is_some() {
            return Err(HqError::Conflict { code: "retailer_exists", message: format!("retailer '{retailer_id}' already exists"), hq_size: None });
        }
        self.append_hq("operator", vec![HqEvent::RetailerAdded { retailer_id: retailer_id.into(), name: name.trim().into() }])?;
        Ok(())
    }

    /// Registers a store's public key under a retailer; returns its one-time enrolment code
    /// (128 random bits). Only the code's hash is kept.
    pub fn add_store(&self, retailer_id: &str, public_key: &str, name: &str) -> Result<String, HqError> {
        let public_key = public_key.trim().to_ascii_lowercase();
        if stockade_journal::verifying_key_from_hex(&public_key).is_none() {
            return Err(invalid("invalid_public_key", "the store's public key is 64 hex digits (see `stockade store status`)"));
        }
        if name.trim().is_empty() || name.len() > 120 {
            return Err(invalid("invalid_name", "a store name of 1 to 120 characters is required"));
        }
        let (retailer, taken) = self.db.tx(|tx| {
            let r = tx.one("SELECT 1 FROM retailers WHERE retailer_id = $1", &[retailer_id.into()])?;
            let k = tx.one("SELECT retailer_id FROM stores WHERE public_key = $1", &[(&public_key).into()])?;
            Ok::<_, HqError>((r.is_some(), k.is_some()))
        })?;
        if !retailer {
            return Err(HqError::NotFound { what: "retailer", id: retailer_id.into() });
        }
        if taken {
            return Err(HqError::Conflict { code: "key_registered", message: "this public key is already registered".into(), hq_size: None });
        }
        let code = random_hex(16);
        let code = format!("{}-{}-{}-{}", &code[0..8], &code[8..16], &code[16..24], &code[24..32]);
        self.append_hq(
            "operator",
            vec![HqEvent::StoreRegistered { retailer_id: retailer_id.into(), public_key, name: name.trim().into(), code_hash: code_hash(&code) }],
        )?;
        Ok(code)
    }

    /// A store presents its enrolment code. The caller has already checked that the request
    /// was signed by `public_key`.
    pub fn enroll(&self, code: &str, store_id: &str, public_key: &str) -> Result<Enrolment, HqError> {
        use subtle::ConstantTimeEq;
        let row = self.db.tx(|tx| tx.one("SELECT retailer_id, code_hash, store_id FROM stores WHERE public_key = $1", &[public_key.into()]))?;
        let refused = || HqError::Refused { code: "enrolment_refused", message: "unknown key or wrong enrolment code".into() };
        let row = row.ok_or_else(refused)?;
        let (Some(retailer_id), Some(expected), Some(current)) = (row[0].t(), row[1].t(), row[2].t()) else {
            return Err(HqError::Corrupt("stores row unreadable".into()));
        };
        if !bool::from(expected.as_bytes().ct_eq(code_hash(code).as_bytes())) {
            return Err(refused());
        }
        if !current.is_empty() && current != store_id {
            return Err(HqError::Conflict { code: "already_enrolled", message: "this key is already enrolled as another store".into(), hq_size: None });
        }
        let clash = self.db.tx(|tx| tx.one("SELECT public_key FROM stores WHERE store_id = $1 AND public_key <> $2", &[store_id.into(), public_key.into()]))?;
        if clash.is_some() {
            return Err(HqError::Conflict { code: "store_id_taken", message: "another key is enrolled with this store id".into(), hq_size: None });
        }
        let retailer_id = retailer_id.to_string();
        if current.is_empty() {
            self.append_hq(
                "store",
                vec![HqEvent::StoreEnrolled { retailer_id: retailer_id.clone(), public_key: public_key.into(), store_id: store_id.into() }],
            )?;
        }
        let hq_size = self.head_of(&retailer_id, store_id)?.0;
        Ok(Enrolment { hq_id: self.hq_id.clone(), retailer_id, hq_public_key: self.public_key_hex(), hq_size })
    }

    /// The enrolled store's retailer and key, for authenticating its requests.
    pub fn store_key(&self, store_id: &str) -> Result<Option<(String, VerifyingKey)>, HqError> {
        let row = self.db.tx(|tx| tx.one("SELECT retailer_id, public_key FROM stores WHERE store_id = $1", &[store_id.into()]))?;
        Ok(row.and_then(|r| Some((r[0].t()?.to_string(), stockade_journal::verifying_key_from_hex(r[1].t()?)?))))
    }

    /// The enrolled store holding `public_key`.
    pub fn store_id_of_key(&self, public_key: &str) -> Result<Option<String>, HqError> {
        let row = self.db.tx(|tx| tx.one("SELECT store_id FROM stores WHERE public_key = $1 AND store_id <> ''", &[public_key.into()]))?;
        Ok(row.and_then(|r| r[0].t().map(str::to_string)))
    }

    /// The registered (maybe not yet enrolled) key, for authenticating an enrolment request.
    pub fn registered_key(&self, public_key: &str) -> Result<Option<VerifyingKey>, HqError> {
        let row = self.db.tx(|tx| tx.one("SELECT public_key FROM stores WHERE public_key = $1", &[public_key.into()]))?;
        Ok(row.and_then(|r| stockade_journal::verifying_key_from_hex(r[0].t()?)))
    }

    fn head_of(&self, retailer_id: &str, store_id: &str) -> Result<(u64, Hash), HqError> {
        self.db.tx(|tx| head_in(tx, retailer_id, store_id))
    }

    /// A security alert about a user rather than a store (out-of-scope reads, bulk exports,
    /// failed sign-ins): shown with the other alerts, at HQ and in its API.
    pub(crate) fn security_alert(&self, retailer_id: &str, kind: &str, message: &str) {
        let at = self.now_ms();
        tracing::warn!(retailer_id, kind, message, "security alert");
        let r = self.db.tx(|tx| {
            tx.exec(
                "INSERT INTO alerts (at_ms, retailer_id, store_id, kind, message) VALUES ($1, $2, '', $3, $4)",
                &[at.into(), retailer_id.into(), kind.into(), message.into()],
            )
        });
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot record alert");
        }
    }

    fn alert(&self, retailer_id: &str, store_id: &str, kind: &str, message: &str) {
        let at = self.now_ms();
        tracing::warn!(retailer_id, store_id, kind, message, "store needs attention");
        let r = self.db.tx(|tx| {
            // A store that retries the same refused request raises one alert, not one per retry.
            let last = tx.one(
                "SELECT kind, message FROM alerts WHERE retailer_id = $1 AND store_id = $2 ORDER BY id DESC LIMIT 1",
                &[retailer_id.into(), store_id.into()],
            )?;
            let repeated = last.is_some_and(|r| r[0].t() == Some(kind) && r[1].t() == Some(message));
            if !repeated {
                tx.exec(
                    "INSERT INTO alerts (at_ms, retailer_id, store_id, kind, message) VALUES ($1, $2, $3, $4, $5)",
                    &[at.into(), retailer_id.into(), store_id.into(), kind.into(), message.into()],
                )?;
            }
            tx.exec(
                "INSERT INTO contact (retailer_id, store_id, last_contact_ms, reported_size, attention) VALUES ($1, $2, $3, 0, $4)
                 ON CONFLICT (retailer_id, store_id) DO UPDATE SET attention = excluded.attention",
                &[retailer_id.into(), store_id.into(), at.into(), format!("{kind}: {message}").into()],
            )?;
            Ok::<_, HqError>(())
        });
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot record alert");
        }
    }

    /// A store reports what is wrong with it (its database found damaged): an alert, once per
    /// distinct report, and the store flagged. `problem` is the store's text, kept to 500
    /// characters.
    pub fn store_problem(&self, store_id: &str, problem: &str) -> Result<(), HqError> {
        let (retailer_id, _) = self.store_key(store_id)?.ok_or_else(|| HqError::NotFound { what: "store", id: store_id.into() })?;
        let text: String = problem.chars().take(500).collect();
        let kind = if text.starts_with("clock") {
            "clock_skew"
        } else if text.contains("disk is full") {
            "disk_full"
        } else {
            "damaged"
        };
        self.alert(&retailer_id, store_id, kind, &text);
        Ok(())
    }

    /// Ingests a batch from an enrolled store (whose request signature the caller checked).
    /// `entries` are `(seq, exact bytes)` in order, ending at the signed checkpoint's size.
    /// Idempotent; a gap is refused with HQ's size; a fork or a bad signature is refused and
    /// raised as an alert.
    pub fn push(
        &self,
        store_id: &str,
        entries: &[(u64, Vec<u8>)],
        checkpoint: &Checkpoint,
        store_signature: &[u8],
        reported_size: u64,
    ) -> Result<PushAck, HqError> {
        if entries.len() > MAX_BATCH_ENTRIES {
            return Err(invalid("batch_too_large", format!("a batch holds at most {MAX_BATCH_ENTRIES} entries")));
        }
        self.push_unbounded(store_id, entries, checkpoint, store_signature, reported_size)
    }

    /// [`Hq::push`] without the batch limit (rebuild replays long intervals in one go).
    pub(crate) fn push_unbounded(
        &self,
        store_id: &str,
        entries: &[(u64, Vec<u8>)],
        checkpoint: &Checkpoint,
        store_signature: &[u8],
        reported_size: u64,
    ) -> Result<PushAck, HqError> {
        let (retailer_id, key) =
            self.store_key(store_id)?.ok_or_else(|| HqError::Refused { code: "unknown_store", message: format!("store '{store_id}' is not enrolled") })?;
        let refuse = |code: &'static str, message: String| {
            self.alert(&retailer_id, store_id, code, &message);
            HqError::Refused { code, message }
        };
        if checkpoint.store_id != store_id {
            return Err(refuse("bad_checkpoint", "the checkpoint names another store".into()));
        }
        if !checkpoint.verify(&key, store_signature) {
            return Err(refuse("bad_signature", format!("the checkpoint at size {} is not signed by the enrolled key", checkpoint.size)));
        }
        // Positions are 1 to i64::MAX (what SQLite holds); checked before any arithmetic on them.
        if checkpoint.size > i64::MAX as u64 || entries.iter().any(|(seq, _)| *seq == 0 || *seq > i64::MAX as u64) {
            return Err(refuse("bad_batch", "entry positions are 1 to 9223372036854775807".into()));
        }
        for (i, (seq, _)) in entries.iter().enumerate() {
            if i > 0 && Some(*seq) != entries[i - 1].0.checked_add(1) {
                return Err(refuse("bad_batch", format!("entries are not consecutive at {seq}")));
            }
        }
        if let Some((last, _)) = entries.last() {
            if *last != checkpoint.size {
                return Err(refuse("bad_batch", format!("the batch ends at entry {last} but its checkpoint is at size {}", checkpoint.size)));
            }
        }
        let now = self.now_ms();
        // A refusal is an error out of the transaction, so nothing of the batch stays behind;
        // the alert is raised after the rollback, in a transaction of its own.
        let outcome = self.db.tx(|tx| -> Result<PushAck, HqError> {
            let (size, _) = head_in(tx, &retailer_id, store_id)?;
            let first = entries.first().map_or(checkpoint.size.saturating_add(1), |e| e.0);
            if first > size + 1 {
                return Err(HqError::Conflict { code: "gap", message: format!("HQ holds {size} entries; send from entry {}", size + 1), hq_size: Some(size) });
            }
            // Entries HQ already holds must be the very same bytes (else: a fork).
            let prev = if first <= 1 { GENESIS } else { stored_hash(tx, &retailer_id, store_id, first - 1)? };
            let mut chain = ChainVerifier::resume(store_id, first - 1, prev);
            let mut ctx = StoreCtx::load(tx, &retailer_id, store_id)?;
            ctx.unknown_kinds = self.unknown_kinds.clone();
            let mut appended = 0u64;
            let mut fresh = Vec::new();
            for (seq, bytes) in entries {
                // Stored and hashed as received: never re-encoded (a newer release's entry,
                // or one of a kind this release does not know, keeps its exact bytes).
                let (e, env) = match chain.push_bytes(*seq, bytes) {
                    Ok(x) => x,
                    Err(err) => return Err(HqError::Refused { code: "bad_batch", message: err.to_string() }),
                };
                if *seq <= size {
                    if stored_hash(tx, &retailer_id, store_id, *seq)? != e.hash {
                        // HQ co-signed its copy: the store lost it (its database went back in
                        // time, then it went on). It gets HQ's copy back and re-records the rest.
                        return Err(rollback(size, checkpoint.size, Some(*seq)));
                    }
                    continue;
                }
                tx.exec(
                    "INSERT INTO entries (retailer_id, store_id, seq, at_ms, kind, bytes, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        (&retailer_id).into(),
                        store_id.into(),
                        (*seq).into(),
                        env.at_ms.into(),
                        e.kind.as_str().into(),
                        Val::B(e.bytes),
                        Val::B(e.hash.to_vec()),
                    ],
                )?;
                fresh.push(env);
                appended += 1;
            }
            let left_out = project::apply_store_entries(tx, &mut ctx, &fresh.iter().collect::<Vec<_>>())?;
            // Never co-sign a head below what HQ acknowledged: the store went back in time.
            if checkpoint.size < size {
                return Err(rollback(size, checkpoint.size, None));
            }
            let cp_head = if entries.is_empty() {
                if checkpoint.size > size {
                    return Err(HqError::Refused { code: "bad_batch", message: "an empty batch must not claim entries HQ does not hold".into() });
                }
                if checkpoint.size == 0 {
                    GENESIS
                } else {
                    stored_hash(tx, &retailer_id, store_id, checkpoint.size)?
                }
            } else {
                chain.head()
            };
            if cp_head != checkpoint.head {
                return Err(HqError::Refused {
                    code: "bad_checkpoint",
                    message: format!("the checkpoint at size {} does not match the entries' hash", checkpoint.size),
                });
            }
            let hq_sig = checkpoint.sign(&self.key);
            if appended > 0 {
                project::set_head(tx, &ctx, chain.size(), &chain.head())?;
                let prev_size = tx
                    .one(
                        "SELECT size FROM checkpoints WHERE retailer_id = $1 AND store_id = $2 ORDER BY size DESC LIMIT 1",
                        &[(&retailer_id).into(), store_id.into()],
                    )?
                    .and_then(|r| r[0].i())
                    .unwrap_or(0);
                tx.exec(
                    "INSERT INTO checkpoints (retailer_id, store_id, size, prev_size, head, store_signature, hq_signature) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        (&retailer_id).into(),
                        store_id.into(),
                        checkpoint.size.into(),
                        prev_size.into(),
                        Val::B(checkpoint.head.to_vec()),
                        Val::B(store_signature.to_vec()),
                        Val::B(hq_sig.to_vec()),
                    ],
                )?;
            }
            tx.exec(
                "INSERT INTO contact (retailer_id, store_id, last_contact_ms, reported_size, attention) VALUES ($1, $2, $3, $4, '')
                 ON CONFLICT (retailer_id, store_id) DO UPDATE SET last_contact_ms = excluded.last_contact_ms, reported_size = excluded.reported_size",
                &[(&retailer_id).into(), store_id.into(), now.into(), reported_size.max(size.max(chain.size())).into()],
            )?;
            // The store needs attention: entries of this batch are left out of HQ's figures.
            if let Some(last) = left_out.last() {
                tx.exec(
                    "UPDATE contact SET attention = $1 WHERE retailer_id = $2 AND store_id = $3",
                    &[last.to_string().into(), (&retailer_id).into(), store_id.into()],
                )?;
            }
            Ok(PushAck { size: checkpoint.size, head: hex::encode(checkpoint.head), hq_signature: hex::encode(hq_sig), tree_head: None })
        });
        match outcome {
            Err(HqError::Refused { code, message }) => Err(refuse(code, message)),
            Err(HqError::Conflict { code: "rollback", message, hq_size }) => {
                self.alert(&retailer_id, store_id, "rollback", &message);
                Err(HqError::Conflict { code: "rollback", message, hq_size })
            }
            other => other,
        }
    }

    /// Entries and co-signed checkpoints of one store, for restoring it or for backups.
    pub fn journal(&self, store_id: &str, from: u64, limit: u64) -> Result<(Vec<EntryBytes>, Vec<SignedCheckpoint>), HqError> {
        let (retailer_id, _) = self.store_key(store_id)?.ok_or_else(|| HqError::NotFound { what: "store", id: store_id.into() })?;
        self.db.tx(|tx| {
            let rows = tx.query(
                "SELECT seq, bytes FROM entries WHERE retailer_id = $1 AND store_id = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
                &[(&retailer_id).into(), store_id.into(), from.into(), limit.min(10_000).into()],
            )?;
            let entries = rows.into_iter().filter_map(|r| Some((r[0].i()? as u64, r[1].b()?.to_vec()))).collect::<Vec<_>>();
            let last = entries.last().map(|e| e.0).unwrap_or(0);
            let cps = tx.query(
                "SELECT size, head, store_signature, hq_signature FROM checkpoints WHERE retailer_id = $1 AND store_id = $2 AND size >= $3 AND size <= $4 ORDER BY size",
                &[(&retailer_id).into(), store_id.into(), from.into(), last.into()],
            )?;
            let cps = cps
                .into_iter()
                .filter_map(|r| {
                    Some(SignedCheckpoint { size: r[0].i()? as u64, head: hex::encode(r[1].b()?), signature: hex::encode(r[2].b()?), hq_signature: Some(hex::encode(r[3].b()?)) })
                })
                .collect();
            Ok((entries, cps))
        })
    }

    pub fn status(&self) -> Result<Vec<StoreStatus>, HqError> {
        let rows = self.db.tx(|tx| {
            tx.query(
                "SELECT s.retailer_id, s.store_id, s.name, s.public_key, h.size, c.reported_size, c.last_contact_ms, c.attention
                 FROM stores s
                 LEFT JOIN store_heads h ON h.retailer_id = s.retailer_id AND h.store_id = s.store_id
                 LEFT JOIN contact c ON c.retailer_id = s.retailer_id AND c.store_id = s.store_id
                 ORDER BY s.retailer_id, s.name",
                &[],
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let size = r[4].i().unwrap_or(0) as u64;
                let reported = r[5].i().unwrap_or(0) as u64;
                let attention = r[7].t().unwrap_or("").to_string();
                StoreStatus {
                    retailer_id: r[0].show(),
                    store_id: r[1].show(),
                    name: r[2].show(),
                    public_key: r[3].show(),
                    enrolled: !r[1].t().unwrap_or("").is_empty(),
                    size,
                    reported_size: reported,
                    lag: reported.saturating_sub(size),
                    last_contact_ms: r[6].i(),
                    integrity: if attention.is_empty() { "ok".into() } else { attention },
                }
            })
            .collect())
    }

    pub fn alerts(&self, limit: u64) -> Result<Vec<Alert>, HqError> {
        let rows = self.db.tx(|tx| tx.query("SELECT at_ms, retailer_id, store_id, kind, message FROM alerts ORDER BY id DESC LIMIT $1", &[limit.into()]))?;
        Ok(rows
            .into_iter()
            .map(|r| Alert { at_ms: r[0].i().unwrap_or(0), retailer_id: r[1].show(), store_id: r[2].show(), kind: r[3].show(), message: r[4].show() })
            .collect())
    }

    /// Publishes catalog and price updates to every store of a retailer, as one entry of HQ's
    /// journal. Products are matched by SKU at the stores.
    pub fn publish_catalog(&self, retailer_id: &str, products: Vec<stockade_domain::catalog::ProductSpec>) -> Result<u64, HqError> {
        if products.is_empty() || products.len() > 5000 {
            return Err(invalid("invalid_catalog", "a publication holds 1 to 5,000 products"));
        }
        for p in &products {
            p.validate().map_err(|f| {
                invalid("invalid_product", format!("{}: {}", p.sku, f.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")))
            })?;
        }
        let next = self.db.tx(|tx| {
            if tx.one("SELECT 1 FROM retailers WHERE retailer_id = $1", &[retailer_id.into()])?.is_none() {
                return Err(HqError::NotFound { what: "retailer", id: retailer_id.into() });
            }
            Ok(tx
                .one("SELECT COALESCE(MAX(retailer_seq), 0) FROM publications WHERE retailer_id = $1", &[retailer_id.into()])?
                .and_then(|r| r[0].i())
                .unwrap_or(0) as u64
                + 1)
        })?;
        self.append_hq(
            "operator",
            vec![HqEvent::CatalogPublished { retailer_id: retailer_id.into(), retailer_seq: next, products: products.into_iter().map(Into::into).collect() }],
        )?;
        Ok(next)
    }

    /// Catalog publications for the store holding `public_key`, after `after`, each with HQ's
    /// signature of the entry: (HQ seq, retailer seq, exact bytes, signature).
    pub fn catalog_for(&self, public_key: &str, after: u64) -> Result<Vec<SignedPublication>, HqError> {
        let rows = self.db.tx(|tx| {
            tx.query(
                "SELECT p.hq_seq, p.retailer_seq, j.bytes FROM stores s JOIN publications p ON p.retailer_id = s.retailer_id
                 JOIN hq_journal j ON j.seq = p.hq_seq
                 WHERE s.public_key = $1 AND s.store_id <> '' AND p.retailer_seq > $2 ORDER BY p.retailer_seq LIMIT 100",
                &[public_key.into(), after.into()],
            )
        })?;
        Ok(self.sign_entries(rows))
    }

    /// Rows of (HQ seq, per-retailer or per-store seq, entry bytes), each with HQ's signature.
    fn sign_entries(&self, rows: Vec<db::Row>) -> Vec<SignedPublication> {
        use ed25519_dalek::Signer;
        rows.into_iter()
            .filter_map(|r| {
                let (seq, rseq, bytes) = (r[0].i()? as u64, r[1].i()? as u64, r[2].b()?.to_vec());
                let sig = hex::encode(self.key.sign(&stockade_journal::hq_event::entry_message(seq, &bytes)).to_bytes());
                Some((seq, rseq, bytes, sig))
            })
            .collect()
    }

    /// Adds a head-office account; returns it and its API token (256 random bits, shown once,
    /// kept only as a SHA-256). `by` is who granted it; the grant is in HQ's journal and in the
    /// audit log.
    pub fn add_user(&self, by: &Principal, name: &str, role: HqRole, retailer_id: Option<&str>) -> Result<(Principal, String), HqError> {
        self.require(by, &Action::ManageUsers)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 80 {
            return Err(invalid("invalid_name", "a user name of 1 to 80 characters is required"));
        }
        match (role, retailer_id) {
            (HqRole::Owner, None) => return Err(invalid("retailer_required", "an owner belongs to one retailer: give --retailer")),
            (HqRole::Owner, Some(r)) => {
                if self.db.tx(|tx| tx.one("SELECT 1 FROM retailers WHERE retailer_id = $1", &[r.into()]))?.is_none() {
                    return Err(HqError::NotFound { what: "retailer", id: r.into() });
                }
            }
            (_, Some(_)) => return Err(invalid("retailer_not_allowed", "only owners belong to a retailer")),
            (_, None) => {}
        }
        if self.db.tx(|tx| tx.one("SELECT 1 FROM hq_users WHERE name = $1 AND active = 1", &[name.into()]))?.is_some() {
            return Err(HqError::Conflict { code: "user_exists", message: format!("an active user is already named '{name}'"), hq_size: None });
        }
        let user = Principal { user_id: uuid::Uuid::new_v4().to_string(), name: name.into(), role, retailer_id: retailer_id.map(str::to_string) };
        self.append_hq(
            &by.user_id,
            vec![HqEvent::UserGranted {
                user_id: user.user_id.clone(),
                name: user.name.clone(),
                role: role.as_str().into(),
                retailer_id: user.retailer_id.clone(),
            }],
        )?;
        let token = self.issue_token(&user.user_id)?;
        self.audit(AuditEvent {
            scope: String::new(),
            user_id: &by.user_id,
            user_name: &by.name,
            kind: "permission_change",
            retailer_id: retailer_id.unwrap_or(""),
            store_id: "",
            what: format!("granted {} to '{}' ({})", role.as_str(), user.name, user.user_id),
            rows: 0,
        })?;
        Ok((user, token))
    }

    /// The first administrator, made by `hq init` (the local command line is the root of trust).
    pub fn bootstrap_admin(&self) -> Result<(Principal, String), HqError> {
        let exists = self.db.tx(|tx| tx.one("SELECT 1 FROM hq_users WHERE role = 'admin'", &[]))?;
        if exists.is_some() {
            return Err(HqError::Conflict { code: "admin_exists", message: "HQ already has an administrator".into(), hq_size: None });
        }
        self.add_user(&Principal::local_admin(), "admin", HqRole::Admin, None)
    }

    fn issue_token(&self, user_id: &str) -> Result<String, HqError> {
        let token = random_hex(32);
        let now = self.now_ms();
        self.db.tx(|tx| {
            tx.exec(
                "INSERT INTO user_tokens (token_hash, user_id, created_ms) VALUES ($1, $2, $3)",
                &[Val::B(Sha256::digest(token.as_bytes()).to_vec()), user_id.into(), now.into()],
            )
        })?;
        Ok(token)
    }

    /// Revokes an account: its tokens stop working at once.
    pub fn revoke_user(&self, by: &Principal, user_id: &str) -> Result<(), HqError> {
        self.require(by, &Action::ManageUsers)?;
        let row = self.db.tx(|tx| tx.one("SELECT name, retailer_id FROM hq_users WHERE user_id = $1 AND active = 1", &[user_id.into()]))?;
        let row = row.ok_or_else(|| HqError::NotFound { what: "active user", id: user_id.into() })?;
        self.append_hq(&by.user_id, vec![HqEvent::UserRevoked { user_id: user_id.into() }])?;
        self.db.tx(|tx| tx.exec("DELETE FROM user_tokens WHERE user_id = $1", &[user_id.into()]))?;
        self.audit(AuditEvent {
            scope: String::new(),
            user_id: &by.user_id,
            user_name: &by.name,
            kind: "permission_change",
            retailer_id: &row[1].show(),
            store_id: "",
            what: format!("revoked '{}' ({user_id})", row[0].show()),
            rows: 0,
        })?;
        Ok(())
    }

    /// Records a retailer's agreement: may the wholesaler's analysts see its sales per store?
    pub fn set_sharing(&self, by: &Principal, retailer_id: &str, store_level: bool) -> Result<(), HqError> {
        self.require(by, &Action::ManageStores { retailer: retailer_id })?;
        if self.db.tx(|tx| tx.one("SELECT 1 FROM retailers WHERE retailer_id = $1", &[retailer_id.into()]))?.is_none() {
            return Err(HqError::NotFound { what: "retailer", id: retailer_id.into() });
        }
        self.append_hq(&by.user_id, vec![HqEvent::SharingSet { retailer_id: retailer_id.into(), store_level }])?;
        self.audit(AuditEvent {
            scope: String::new(),
            user_id: &by.user_id,
            user_name: &by.name,
            kind: "permission_change",
            retailer_id,
            store_id: "",
            what: format!("store-level sharing with analysts {}", if store_level { "on" } else { "off" }),
            rows: 0,
        })?;
        Ok(())
    }

    /// The active user holding `token`. The token is looked up by its SHA-256, so no comparison
    /// runs on the secret itself.
    pub fn authenticate(&self, token: &str) -> Result<Principal, HqError> {
        let h = Sha256::digest(token.trim().as_bytes()).to_vec();
        let row = self.db.tx(|tx| {
            tx.one(
                "SELECT u.user_id, u.name, u.role, u.retailer_id FROM user_tokens t JOIN hq_users u ON u.user_id = t.user_id
                 WHERE t.token_hash = $1 AND u.active = 1",
                &[Val::B(h)],
            )
        })?;
        let Some(r) = row else {
            self.failed_sign_in()?;
            return Err(HqError::Unauthorized);
        };
        let role = HqRole::parse(&r[2].show()).ok_or_else(|| HqError::Corrupt(format!("user {}: unknown role '{}'", r[0].show(), r[2].show())))?;
        let retailer = r[3].show();
        Ok(Principal { user_id: r[0].show(), name: r[1].show(), role, retailer_id: (!retailer.is_empty()).then_some(retailer) })
    }

    /// Counts a sign-in with an unknown or revoked token; the tenth within ten minutes raises
    /// one `failed_logins` alert for that window. Nothing about the token is kept.
    fn failed_sign_in(&self) -> Result<(), HqError> {
        let now = self.now_ms();
        let since = now - FAILED_SIGN_IN_WINDOW_MS;
        let (count, alerted) = self.db.tx(|tx| {
            tx.exec("DELETE FROM auth_failures WHERE at_ms < $1", &[since.into()])?;
            tx.exec("INSERT INTO auth_failures (at_ms) VALUES ($1)", &[now.into()])?;
            let n = tx.one("SELECT COUNT(*) FROM auth_failures", &[])?.and_then(|r| r[0].i()).unwrap_or(0);
            let alerted = tx.one("SELECT 1 FROM alerts WHERE kind = 'failed_logins' AND at_ms >= $1", &[since.into()])?.is_some();
            Ok::<_, HqError>((n, alerted))
        })?;
        if count >= FAILED_SIGN_INS_ALERT && !alerted {
            self.security_alert("", "failed_logins", &format!("{count} sign-ins with unknown or revoked tokens in the last 10 minutes"));
        }
        Ok(())
    }

    /// A user's id from their id or name (the newest account of that name).
    pub fn user_id_of(&self, id_or_name: &str) -> Result<Option<String>, HqError> {
        let row = self.db.tx(|tx| tx.one("SELECT user_id FROM hq_users WHERE user_id = $1 OR name = $1 ORDER BY active DESC LIMIT 1", &[id_or_name.into()]))?;
        Ok(row.map(|r| r[0].show()))
    }

    /// Retailers whose agreement shares store-level sales with analysts.
    pub fn sharing(&self) -> Result<Vec<String>, HqError> {
        let rows = self.db.tx(|tx| tx.query("SELECT retailer_id FROM sharing WHERE store_level = 1 ORDER BY retailer_id", &[]))?;
        Ok(rows.iter().map(|r| r[0].show()).collect())
    }

    /// What `p` may see of `action`, or an audited refusal.
    pub fn require(&self, p: &Principal, action: &Action<'_>) -> Result<Scope, HqError> {
        let sharing = if matches!(action, Action::ReadSales { .. } | Action::ApproveOrders { .. }) { self.sharing()? } else { Vec::new() };
        match access::decide(p, action, &sharing) {
            Decision::Allow(scope) => Ok(scope),
            Decision::Deny(why) => {
                let asked = match action {
                    Action::ReadSales { retailer } => retailer.unwrap_or("").to_string(),
                    Action::ManageStores { retailer } | Action::ApproveOrders { retailer } => retailer.to_string(),
                    _ => String::new(),
                };
                self.audit(AuditEvent {
                    scope: String::new(),
                    user_id: &p.user_id,
                    user_name: &p.name,
                    kind: "denied",
                    retailer_id: &asked,
                    store_id: "",
                    what: format!("{action:?}"),
                    rows: 0,
                })?;
                self.security_alert(&asked, "out_of_scope", &format!("{} ({}, {}) asked for {action:?}: {why}", p.name, p.user_id, p.role.as_str()));
                Err(HqError::Forbidden(why))
            }
        }
    }

    /// Clears a store's attention flag once an operator has looked at it.
    pub fn acknowledge(&self, store_id: &str) -> Result<(), HqError> {
        self.db.tx(|tx| tx.exec("UPDATE contact SET attention = '' WHERE store_id = $1", &[store_id.into()]))?;
        Ok(())
    }
}

/// The newest schema in a new, empty database.
pub(crate) fn create_schema(db: &Db) -> Result<(), HqError> {
    migrate::create_fresh(db)
}

/// The refusal HQ answers a store that went back in time: it holds `hq_size` entries the store
/// signed and HQ co-signed, the store now signs `store_size` (or differs from entry `differs_at`).
fn rollback(hq_size: u64, store_size: u64, differs_at: Option<u64>) -> HqError {
    let message = match differs_at {
        Some(seq) => format!(
            "the store's entry {seq} differs from the one HQ acknowledged (HQ holds {hq_size} entries): its database went back in time; fetch HQ's copy and reconcile"
        ),
        None => format!("the store signs {store_size} entries but HQ acknowledged {hq_size}: its database went back in time; fetch HQ's copy and reconcile"),
    };
    HqError::Conflict { code: "rollback", message, hq_size: Some(hq_size) }
}

pub(crate) fn head_in(tx: &mut dyn Tx, retailer_id: &str, store_id: &str) -> Result<(u64, Hash), HqError> {
    match tx.one("SELECT size, head FROM store_heads WHERE retailer_id = $1 AND store_id = $2", &[retailer_id.into(), store_id.into()])? {
        Some(r) => Ok((r[0].i().unwrap_or(0) as u64, hash32(&r[1], "store head")?)),
        None => Ok((0, GENESIS)),
    }
}

fn stored_hash(tx: &mut dyn Tx, retailer_id: &str, store_id: &str, seq: u64) -> Result<Hash, HqError> {
    let row = tx.one("SELECT hash FROM entries WHERE retailer_id = $1 AND store_id = $2 AND seq = $3", &[retailer_id.into(), store_id.into(), seq.into()])?;
    let row = row.ok_or_else(|| HqError::Corrupt(format!("store {store_id}: entry {seq} is missing; run `stockade hq verify`")))?;
    hash32(&row[0], "entry")
}
