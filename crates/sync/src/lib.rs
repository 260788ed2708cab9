//! Store ↔ HQ replication: the messages, how requests are signed with the store's Ed25519 key
//! (no shared passwords), the HTTP client, and the store's background replicator with back-off.
//!
//! Protocol (JSON over HTTP, under `/hq/api/v1/`):
//! * `POST enroll` — `EnrollRequest`, signed by the key being enrolled → `Enrolment`.
//! * `POST push` — `PushRequest`: entries after HQ's acknowledged size (exact bytes) ending at a
//!   checkpoint the store signed → `PushAck` with HQ's co-signature. `409 gap` carries `hq_size`.
//! * `GET my/journal?from=N` — the signing store's entries and co-signed checkpoints (restore).

#![forbid(unsafe_code)]

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use stockade_journal::SignedCheckpoint;
use stockade_store::Store;

pub const HEADER_KEY: &str = "x-stockade-key";
pub const HEADER_TIME: &str = "x-stockade-time";
pub const HEADER_SIGNATURE: &str = "x-stockade-signature";
/// How far a request's time may be from HQ's clock, by default.
pub const DEFAULT_MAX_SKEW_MS: i64 = 15 * 60 * 1000;
/// Entries per push.
pub const BATCH_ENTRIES: u64 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    pub store_id: String,
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEntry {
    pub seq: u64,
    /// The entry's exact bytes (UTF-8 JSON), as hashed.
    pub entry: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRequest {
    pub store_id: String,
    /// The store's own journal size, so HQ can show its lag.
    pub store_size: u64,
    pub entries: Vec<WireEntry>,
    pub checkpoint: SignedCheckpoint,
    /// What is wrong with the store (a damaged database), for HQ's alerts; absent when whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Asks for HQ's tree head over every store's head with the acknowledgement (a store asks
    /// every [`Pacing::tree_head_every`]: it costs HQ a read of every store's head).
    #[serde(default)]
    pub want_tree_head: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalPage {
    pub entries: Vec<WireEntry>,
    pub checkpoints: Vec<SignedCheckpoint>,
}

/// One entry of HQ's journal as HQ hands it to a store: a catalog publication or a purchase order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publication {
    pub hq_seq: u64,
    /// Its number per retailer (catalog updates) or per store (purchase orders).
    #[serde(alias = "retailer_seq")]
    pub seq: u64,
    /// The HQ journal entry's exact bytes.
    pub entry: String,
    /// HQ's signature of (hq_seq, entry hash).
    pub signature: String,
}

/// The part of HQ's journal a store vouches for, after its cursor (see `stockade_hq::trust`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistryPage {
    pub entries: Vec<Publication>,
    /// Where the next request starts (HQ scanned this far, whether or not anything was for the store).
    pub next_after: u64,
    /// The first entry of HQ's latest rebuild from its stores, if any: a store that read past it
    /// before the rebuild reads again from there.
    #[serde(default)]
    pub rebuilt_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogPage {
    pub entries: Vec<Publication>,
}

/// Who an HQ entry handed to a store must be addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee<'a> {
    /// A catalog publication for this retailer's stores (an empty id accepts any retailer).
    Retailer(&'a str),
    /// A purchase order for this store of this retailer.
    Store { retailer: &'a str, store: &'a str },
}

/// Checks an HQ entry against HQ's pinned key, its addressee and the store's progress (it must
/// be the next one: `last_applied + 1`); returns HQ's id and the entry.
pub fn verify_publication(
    hq_key: &VerifyingKey,
    to: Addressee<'_>,
    last_applied: u64,
    p: &Publication,
) -> Result<(String, stockade_journal::hq_event::HqEnvelope), String> {
    use stockade_journal::hq_event::{entry_message, HqEnvelope, HqEvent};
    let sig = hex::decode(&p.signature).ok().and_then(|s| Signature::from_slice(&s).ok()).ok_or("the signature is malformed")?;
    hq_key.verify(&entry_message(p.hq_seq, p.entry.as_bytes()), &sig).map_err(|_| format!("HQ entry {} is not signed by HQ's enrolled key", p.hq_seq))?;
    let env = HqEnvelope::decode(p.entry.as_bytes()).map_err(|e| format!("HQ entry {} is unreadable: {e}", p.hq_seq))?;
    if env.seq != p.hq_seq {
        return Err(format!("HQ entry {} is numbered {}", p.hq_seq, env.seq));
    }
    let (what, seq) = match (&env.event, to) {
        // A kind this release does not know (from a newer HQ): addressee and number are read
        // from the signed bytes by the protocol's stable field names, so it can be held in order.
        (HqEvent::Unknown(u), to) => {
            let v: serde_json::Value = serde_json::from_str(&p.entry).map_err(|e| format!("HQ entry {} is unreadable: {e}", p.hq_seq))?;
            let field = |name: &str| v["event"][name].as_str().map(str::to_string);
            let number = |name: &str| v["event"][name].as_u64();
            match to {
                Addressee::Retailer(retailer_id) => {
                    if !retailer_id.is_empty() && field("retailer_id").as_deref() != Some(retailer_id) {
                        return Err(format!("HQ entry {} is for another retailer", p.hq_seq));
                    }
                    ("catalog update", number("retailer_seq").ok_or_else(|| format!("HQ entry {} ({}) carries no retailer_seq", p.hq_seq, u.kind))?)
                }
                Addressee::Store { retailer, store } => {
                    if field("retailer_id").as_deref() != Some(retailer) || field("store_id").as_deref() != Some(store) {
                        return Err(format!("HQ entry {} is for another store", p.hq_seq));
                    }
                    ("purchase order", number("store_seq").ok_or_else(|| format!("HQ entry {} ({}) carries no store_seq", p.hq_seq, u.kind))?)
                }
            }
        }
        (HqEvent::CatalogPublished { retailer_id: r, retailer_seq, .. }, Addressee::Retailer(retailer_id)) => {
            if !retailer_id.is_empty() && r != retailer_id {
                return Err(format!("HQ entry {} is for another retailer", p.hq_seq));
            }
            ("catalog update", *retailer_seq)
        }
        (HqEvent::PurchaseOrderIssued { retailer_id: r, store_id: s, store_seq, .. }, Addressee::Store { retailer, store }) => {
            if r != retailer || s != store {
                return Err(format!("HQ entry {} is for another store", p.hq_seq));
            }
            ("purchase order", *store_seq)
        }
        (_, Addressee::Retailer(_)) => return Err(format!("HQ entry {} is not a catalog publication", p.hq_seq)),
        (_, Addressee::Store { .. }) => return Err(format!("HQ entry {} is not a purchase order", p.hq_seq)),
    };
    if seq != last_applied + 1 || seq != p.seq {
        return Err(format!("{what} {seq} arrived after {last_applied}: one is missing"));
    }
    Ok((env.hq.clone(), env))
}

/// The two streams of HQ entries a store applies, each numbered on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Catalog and price updates, numbered per retailer.
    Catalog,
    /// Purchase orders, numbered per store.
    Orders,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Catalog => "catalog",
            Stream::Orders => "orders",
        }
    }
}

/// What became of a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Applied,
    /// Verified and held unapplied: its kind is unknown to this release, or an earlier entry of
    /// its stream is held (a stream is applied in order).
    Held,
}

/// Verifies the next publication of `stream` (HQ's signature, addressee, numbering) and applies
/// it through the store's journal, or holds it when this release cannot (its kind is unknown,
/// or listed in `unknown`, which is how a test stands in for an older release).
pub async fn take_publication(
    store: &Store,
    hq_key: &VerifyingKey,
    stream: Stream,
    retailer_id: &str,
    p: &Publication,
    unknown: &[&str],
) -> Result<Taken, SyncError> {
    use stockade_journal::hq_event::HqEvent;
    let store_id = store.info().store_id.clone();
    let to = match stream {
        Stream::Catalog => Addressee::Retailer(retailer_id),
        Stream::Orders => Addressee::Store { retailer: retailer_id, store: &store_id },
    };
    let last = store.stream_position(stream.name())?;
    let (hq_id, env) = verify_publication(hq_key, to, last, p).map_err(SyncError::BadAnswer)?;
    let kind = env.event.kind().to_string();
    let queued = !store.held(stream.name())?.is_empty();
    if queued || matches!(env.event, HqEvent::Unknown(_)) || unknown.contains(&kind.as_str()) {
        store
            .hold_hq_entry(stockade_store::sync::HeldEntry {
                hq_seq: p.hq_seq,
                stream: stream.name().into(),
                seq: last + 1,
                kind,
                entry: p.entry.clone(),
                signature: p.signature.clone(),
            })
            .await?;
        return Ok(Taken::Held);
    }
    apply_verified(store, stream, hq_id, p.hq_seq, env.event).await?;
    Ok(Taken::Applied)
}

async fn apply_verified(store: &Store, stream: Stream, hq_id: String, hq_seq: u64, event: stockade_journal::hq_event::HqEvent) -> Result<(), SyncError> {
    use stockade_journal::hq_event::HqEvent;
    match (stream, event) {
        (Stream::Catalog, HqEvent::CatalogPublished { retailer_seq, products, .. }) => {
            store.apply_hq_catalog(hq_id, hq_seq, retailer_seq, products.into_iter().map(Into::into).collect()).await?;
        }
        (Stream::Orders, HqEvent::PurchaseOrderIssued { store_seq, po_id, lines, .. }) => {
            store.apply_hq_order(hq_id, hq_seq, store_seq, po_id, lines).await?;
        }
        (s, e) => return Err(SyncError::BadAnswer(format!("HQ entry {hq_seq} ({}) is not of the {} stream", e.kind(), s.name()))),
    }
    Ok(())
}

/// Applies held entries of `stream` that this release now knows, in order, stopping at the first
/// it still cannot apply. Each is checked against HQ's key again. Returns how many were applied.
pub async fn apply_held(store: &Store, hq_key: &VerifyingKey, stream: Stream, retailer_id: &str, unknown: &[&str]) -> Result<u64, SyncError> {
    use stockade_journal::hq_event::HqEvent;
    let store_id = store.info().store_id.clone();
    let mut applied = 0;
    for h in store.held(stream.name())? {
        let p = Publication { hq_seq: h.hq_seq, seq: h.seq, entry: h.entry.clone(), signature: h.signature.clone() };
        let to = match stream {
            Stream::Catalog => Addressee::Retailer(retailer_id),
            Stream::Orders => Addressee::Store { retailer: retailer_id, store: &store_id },
        };
        let (hq_id, env) = verify_publication(hq_key, to, h.seq - 1, &p).map_err(SyncError::BadAnswer)?;
        if matches!(env.event, HqEvent::Unknown(_)) || unknown.contains(&env.event.kind()) {
            break;
        }
        apply_verified(store, stream, hq_id, h.hq_seq, env.event).await?;
        store.release_held(h.hq_seq).await?;
        applied += 1;
    }
    Ok(applied)
}

/// The text a request signature covers: who, when, which request, and a hash of its body.
pub fn request_message(key_hex: &str, method: &str, path: &str, time_ms: i64, body: &[u8]) -> Vec<u8> {
    format!("stockade-request/v1\n{key_hex}\n{method}\n{path}\n{time_ms}\n{}\n", hex::encode(Sha256::digest(body))).into_bytes()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed {0} header")]
    Header(&'static str),
    #[error("the request time is too far from HQ's clock: check the store's clock")]
    Skew,
    #[error("the request signature does not verify")]
    Signature,
}

/// Checks a signed request against `key` (constant-time inside Ed25519 verification).
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    key: &VerifyingKey,
    method: &str,
    path: &str,
    time: &str,
    signature: &str,
    body: &[u8],
    now_ms: i64,
    max_skew_ms: i64,
) -> Result<(), AuthError> {
    let time_ms: i64 = time.parse().map_err(|_| AuthError::Header(HEADER_TIME))?;
    // The signature first: only the store itself can make HQ report its clock as off.
    let sig = hex::decode(signature).ok().and_then(|s| Signature::from_slice(&s).ok()).ok_or(AuthError::Header(HEADER_SIGNATURE))?;
    let msg = request_message(&hex::encode(key.to_bytes()), method, path, time_ms, body);
    key.verify(&msg, &sig).map_err(|_| AuthError::Signature)?;
    if time_ms.abs_diff(now_ms) > max_skew_ms.unsigned_abs() {
        return Err(AuthError::Skew);
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("HQ is unreachable: {0}")]
    Unreachable(String),
    /// HQ holds fewer entries than the store thought: send from `hq_size`.
    #[error("HQ holds {hq_size} entries: resending from there")]
    Gap { hq_size: u64 },
    /// HQ co-signed more than the store now holds, or other entries: the store's database went
    /// back in time. The store fetches HQ's copy and reconciles.
    #[error("HQ refused: {message}")]
    Rollback { hq_size: u64, message: String },
    #[error("HQ refused ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("HQ's answer does not verify: {0}")]
    BadAnswer(String),
    #[error("store: {0}")]
    Store(#[from] stockade_store::StoreError),
}

/// An HTTP client for one HQ, signing every request with the store's key.
#[derive(Clone)]
pub struct HqClient {
    base: String,
    http: reqwest::Client,
    store: Store,
    /// When the store last kept a tree head, and how often it asks for one.
    last_tree_head: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    tree_head_every: Duration,
}

/// Signs a request with the store's key: either an open store's, or a bare key (restoring a
/// wiped store, before there is a store to open).
trait RequestSigner: Send + Sync {
    fn key_hex(&self) -> String;
    fn now_ms(&self) -> i64;
    fn sign(&self, message: &[u8]) -> [u8; 64];
    /// HQ's clock as its answer gave it, for a request sent at `sent_ms`.
    fn observe_hq_time(&self, _sent_ms: i64, _hq_ms: i64) {}
}

impl RequestSigner for Store {
    fn key_hex(&self) -> String {
        hex::encode(self.public_key().to_bytes())
    }
    fn now_ms(&self) -> i64 {
        self.clock().now_ms()
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        Store::sign(self, message)
    }
    fn observe_hq_time(&self, sent_ms: i64, hq_ms: i64) {
        self.observe_hq_clock(sent_ms, hq_ms);
    }
}

impl RequestSigner for ed25519_dalek::SigningKey {
    fn key_hex(&self) -> String {
        hex::encode(self.verifying_key().to_bytes())
    }
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(self, message).to_bytes()
    }
}

fn http_client() -> Result<reqwest::Client, SyncError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| SyncError::Unreachable(e.to_string()))
}

async fn call<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    signer: &(dyn RequestSigner + Sync),
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> Result<T, SyncError> {
    let key_hex = signer.key_hex();
    let time_ms = signer.now_ms();
    let sig = signer.sign(&request_message(&key_hex, method.as_str(), path, time_ms, &body));
    let resp = http
        .request(method, format!("{base}{path}"))
        .header(HEADER_KEY, &key_hex)
        .header(HEADER_TIME, time_ms.to_string())
        .header(HEADER_SIGNATURE, hex::encode(sig))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| SyncError::Unreachable(e.to_string()))?;
    let status = resp.status();
    // HQ's clock, on every answer: the store compares its own with it at every contact.
    if let Some(hq_ms) = resp.headers().get(HEADER_TIME).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok()) {
        signer.observe_hq_time(time_ms, hq_ms);
    }
    let bytes = resp.bytes().await.map_err(|e| SyncError::Unreachable(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| SyncError::BadAnswer(e.to_string()));
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let err = &v["error"];
    let code = err["code"].as_str().unwrap_or("http_error").to_string();
    if code == "gap" {
        if let Some(hq_size) = err["hq_size"].as_u64() {
            return Err(SyncError::Gap { hq_size });
        }
    }
    if code == "rollback" {
        if let Some(hq_size) = err["hq_size"].as_u64() {
            return Err(SyncError::Rollback { hq_size, message: err["message"].as_str().unwrap_or("").to_string() });
        }
    }
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(SyncError::Unreachable(format!("HTTP {status}")));
    }
    Err(SyncError::Refused { code, message: err["message"].as_str().unwrap_or("").to_string() })
}

/// Pages through a store's journal as HQ holds it, signing with the store's bare key. HQ finds
/// the store by that key: a wiped store no longer knows its own id.
pub async fn fetch_journal_with_key(base: &str, key: &ed25519_dalek::SigningKey) -> Result<JournalPage, SyncError> {
    fetch_pages(base, "/hq/api/v1/my/journal", key).await
}

/// HQ pulls a store's whole journal from the store itself (rebuilding HQ), signing with HQ's key.
pub async fn fetch_store_journal(store_url: &str, hq_key: &ed25519_dalek::SigningKey) -> Result<JournalPage, SyncError> {
    fetch_pages(store_url, "/api/journal", hq_key).await
}

/// HQ pulls what a store holds to vouch for it (rebuilding HQ from its stores), signing with HQ's key.
pub async fn fetch_store_evidence(store_url: &str, hq_key: &ed25519_dalek::SigningKey) -> Result<stockade_journal::backup::HqEvidence, SyncError> {
    call(&http_client()?, store_url.trim_end_matches('/'), hq_key, reqwest::Method::GET, "/api/hq-evidence", Vec::new()).await
}

async fn fetch_pages(base: &str, endpoint: &str, key: &ed25519_dalek::SigningKey) -> Result<JournalPage, SyncError> {
    fetch_pages_from(&http_client()?, base, endpoint, key, 1).await
}

async fn fetch_pages_from(http: &reqwest::Client, base: &str, endpoint: &str, key: &(dyn RequestSigner + Sync), first: u64) -> Result<JournalPage, SyncError> {
    let base = base.trim_end_matches('/');
    let mut all = JournalPage { entries: Vec::new(), checkpoints: Vec::new() };
    loop {
        let from = all.entries.last().map(|e| e.seq + 1).unwrap_or(first);
        let path = format!("{endpoint}?from={from}");
        let page: JournalPage = call(http, base, key, reqwest::Method::GET, &path, Vec::new()).await?;
        if page.entries.is_empty() {
            return Ok(all);
        }
        all.entries.extend(page.entries);
        all.checkpoints.extend(page.checkpoints);
    }
}

impl HqClient {
    pub fn new(base: &str, store: Store) -> Result<HqClient, SyncError> {
        Ok(HqClient {
            base: base.trim_end_matches('/').to_string(),
            http: http_client()?,
            store,
            last_tree_head: std::sync::Arc::new(std::sync::Mutex::new(None)),
            tree_head_every: Pacing::default().tree_head_every,
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Result<T, SyncError> {
        call(&self.http, &self.base, &self.store, method, path, body).await
    }
}

impl HqClient {
    pub async fn enroll(&self, code: &str) -> Result<stockade_store::sync::SyncConfig, SyncError> {
        let req =
            EnrollRequest { code: code.to_string(), store_id: self.store.info().store_id.clone(), public_key: hex::encode(self.store.public_key().to_bytes()) };
        let body = serde_json::to_vec(&req).map_err(|e| SyncError::BadAnswer(e.to_string()))?;
        let e: EnrolmentAnswer = self.call(reqwest::Method::POST, "/hq/api/v1/enroll", body).await?;
        stockade_journal::verifying_key_from_hex(&e.hq_public_key).ok_or_else(|| SyncError::BadAnswer("HQ's public key is malformed".into()))?;
        Ok(stockade_store::sync::SyncConfig {
            hq_url: self.base.clone(),
            hq_public_key: e.hq_public_key,
            hq_id: e.hq_id,
            retailer_id: e.retailer_id,
            acked_size: e.hq_size,
            last_ok_ms: None,
            last_attempt_ms: None,
            last_error: None,
        })
    }

    /// Fetches and applies, in order, the catalog updates HQ published for this store's retailer.
    pub async fn pull_catalog(&self, hq_key: &VerifyingKey, retailer_id: &str) -> Result<u64, SyncError> {
        self.pull(hq_key, Stream::Catalog, retailer_id, "/hq/api/v1/my/catalog").await
    }

    /// Fetches and records, in order, the purchase orders HQ approved for this store.
    pub async fn pull_orders(&self, hq_key: &VerifyingKey, retailer_id: &str) -> Result<u64, SyncError> {
        self.pull(hq_key, Stream::Orders, retailer_id, "/hq/api/v1/my/orders").await
    }

    async fn pull(&self, hq_key: &VerifyingKey, stream: Stream, retailer_id: &str, path: &str) -> Result<u64, SyncError> {
        let mut applied = apply_held(&self.store, hq_key, stream, retailer_id, &[]).await?;
        loop {
            let last = self.store.stream_position(stream.name())?;
            let page: CatalogPage = self.call(reqwest::Method::GET, &format!("{path}?after={last}"), Vec::new()).await?;
            let Some(p) = page.entries.first() else { return Ok(applied) };
            if take_publication(&self.store, hq_key, stream, retailer_id, p, &[]).await? == Taken::Applied {
                applied += 1;
            }
        }
    }

    /// Sends the next batch after `acked` (or an empty heartbeat). Returns HQ's acknowledged size
    /// and the store's journal size when the batch was read.
    pub async fn push_once(&self, hq_key: &VerifyingKey, acked: u64) -> Result<(u64, u64), SyncError> {
        // A database that went back in time may record an acknowledged size beyond its journal:
        // the heartbeat then signs what the store has, and HQ answers with a rollback.
        let acked = acked.min(self.store.journal_size()?);
        let store = self.store.clone();
        let batch = tokio::task::spawn_blocking(move || store.batch_after(acked, BATCH_ENTRIES)).await.map_err(|e| SyncError::BadAnswer(e.to_string()))??;
        let (entries, checkpoint, signature, store_size) = match batch {
            Some(b) => (b.entries, b.checkpoint, b.signature, b.head_size),
            None if acked == 0 => return Ok((0, 0)),
            None => {
                let (cp, sig) = self.store.checkpoint_at(acked)?;
                (Vec::new(), cp, sig, acked)
            }
        };
        let mut wire = Vec::with_capacity(entries.len());
        for (seq, bytes) in entries {
            let entry = String::from_utf8(bytes).map_err(|_| SyncError::BadAnswer(format!("entry {seq} is not UTF-8")))?;
            wire.push(WireEntry { seq, entry });
        }
        let req = PushRequest {
            store_id: self.store.info().store_id.clone(),
            store_size,
            entries: wire,
            checkpoint: SignedCheckpoint { size: checkpoint.size, head: hex::encode(checkpoint.head), signature: hex::encode(signature), hq_signature: None },
            problem: {
                let h = self.store.health();
                h.damaged.or(h.disk_full).or(h.clock.map(|c| c.message))
            },
            want_tree_head: self
                .last_tree_head
                .lock()
                .map(|mut t| {
                    // Asked at most once per interval, whatever becomes of the answer.
                    let due = t.is_none_or(|at| at.elapsed() >= self.tree_head_every);
                    if due {
                        *t = Some(std::time::Instant::now());
                    }
                    due
                })
                .unwrap_or(true),
        };
        let body = serde_json::to_vec(&req).map_err(|e| SyncError::BadAnswer(e.to_string()))?;
        let ack: AckAnswer = self.call(reqwest::Method::POST, "/hq/api/v1/push", body).await?;
        let hq_sig = hex::decode(&ack.hq_signature).map_err(|_| SyncError::BadAnswer("co-signature is not hex".into()))?;
        if ack.size != checkpoint.size || !checkpoint.verify(hq_key, &hq_sig) {
            return Err(SyncError::BadAnswer("HQ's co-signature does not verify with its enrolled key".into()));
        }
        self.store.record_ack(checkpoint.clone(), signature, hq_sig, self.store.clock().now_ms()).await?;
        if let Some(th) = ack.tree_head {
            self.keep_tree_head(hq_key, &checkpoint, th).await?;
        }
        Ok((checkpoint.size, store_size))
    }

    /// Keeps HQ's tree head if it verifies and witnesses this store's head as HQ just
    /// acknowledged it; a tree head that says otherwise is HQ (or someone in between) lying
    /// about this store: not kept, and logged.
    async fn keep_tree_head(&self, hq_key: &VerifyingKey, acked: &stockade_journal::Checkpoint, th: stockade_journal::tree::TreeHead) -> Result<(), SyncError> {
        let mine = stockade_journal::tree::leaf_hash(&acked.store_id, acked.size, &acked.head);
        match th.verify(hq_key) {
            Ok(()) if th.leaf_of(&acked.store_id) == Some(mine) => Ok(self.store.record_tree_head(th).await?),
            Ok(()) => {
                tracing::error!("HQ's tree head does not witness this store's acknowledged head: not kept");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "HQ's tree head does not verify: not kept");
                Ok(())
            }
        }
    }

    /// Reads the part of HQ's journal this store vouches for, after what it holds (see
    /// [`check_registry_page`]) and keeps it. Returns how many entries were kept.
    pub async fn pull_registry(&self) -> Result<u64, SyncError> {
        let cfg = self.store.sync_config()?.ok_or_else(|| SyncError::BadAnswer("the store is not enrolled".into()))?;
        let mut kept = 0u64;
        loop {
            let trust = self.store.hq_trust()?;
            let page: RegistryPage = self.call(reqwest::Method::GET, &format!("/hq/api/v1/my/registry?after={}", trust.after), Vec::new()).await?;
            // Only forward (an answer cannot send the store back to an older rebuild, or loop), and
            // only where the store read past it.
            if let Some(r) = page.rebuilt_at.filter(|r| *r > trust.rebuilt_at) {
                tracing::warn!(rebuilt_at = r, "HQ was rebuilt from its stores: reading its journal again from its new entries");
                self.store.hq_rebuilt(r).await?;
                continue;
            }
            if page.next_after <= trust.after {
                return Ok(kept);
            }
            let u = check_registry_page(&cfg.hq_id, &trust, &page)?;
            kept += u.copies.len() as u64;
            if !u.new_keys.is_empty() {
                tracing::warn!(keys = u.new_keys.len(), "HQ's key was replaced (signed by HQ's root key): the new key is trusted from now on");
            }
            self.store.record_hq_copy(u.copies, u.new_keys, u.new_root, page.next_after).await?;
        }
    }
}

/// What a checked page of HQ's registry adds to the store's evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUpdate {
    pub copies: Vec<stockade_journal::backup::HqEntryCopy>,
    /// HQ keys named by rotations the root key signed, oldest first.
    pub new_keys: Vec<String>,
    /// HQ's root key, when the store learns it from this page.
    pub new_root: Option<String>,
}

/// Checks a page of HQ's registry against what the store trusts: every entry numbered as
/// asked, of this HQ, and signed by a trusted HQ key; a key rotation only when HQ's root key
/// (which the store learned earlier from an entry signed by a key it trusted) signed it and the
/// old key is trusted; the root key itself only the first time.
pub fn check_registry_page(hq_id: &str, trust: &stockade_store::evidence::HqTrust, page: &RegistryPage) -> Result<RegistryUpdate, SyncError> {
    use stockade_journal::hq_event::{entry_message, rotation_message, HqEnvelope, HqEvent};
    let mut keys = trust.keys.clone();
    let mut root = trust.root;
    let (mut new_keys, mut new_root, mut copies) = (Vec::new(), None, Vec::new());
    if page.next_after > i64::MAX as u64 {
        return Err(SyncError::BadAnswer(format!("HQ's registry cursor {} is out of range", page.next_after)));
    }
    let mut envs = Vec::with_capacity(page.entries.len());
    for p in &page.entries {
        if p.hq_seq <= trust.after || p.hq_seq > page.next_after {
            return Err(SyncError::BadAnswer(format!("HQ entry {} is outside the range asked for", p.hq_seq)));
        }
        let env = HqEnvelope::decode(p.entry.as_bytes()).map_err(|e| SyncError::BadAnswer(format!("HQ entry {} is unreadable: {e}", p.hq_seq)))?;
        if env.seq != p.hq_seq || env.hq != hq_id {
            return Err(SyncError::BadAnswer(format!("HQ entry {} is numbered {} of HQ {}", p.hq_seq, env.seq, env.hq)));
        }
        envs.push(env);
    }
    // Rotations first: HQ signs every entry it hands over with the key in force now, so
    // entries before a rotation in this page are signed with the key it names.
    for (p, env) in page.entries.iter().zip(&envs) {
        if let HqEvent::HqKeyRotated { old_public_key, new_public_key, root_signature } = &env.event {
            // A store enrolled after the rotation already has the new key.
            if keys.iter().any(|k| hex::encode(k.to_bytes()) == *new_public_key) {
                continue;
            }
            let old_trusted = keys.last().is_some_and(|k| hex::encode(k.to_bytes()) == *old_public_key);
            let signed = root.is_some_and(|r| {
                let sig = hex::decode(root_signature).ok().and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok());
                sig.is_some_and(|s| r.verify(&rotation_message(hq_id, old_public_key, new_public_key), &s).is_ok())
            });
            match (old_trusted && signed, stockade_journal::verifying_key_from_hex(new_public_key)) {
                (true, Some(k)) => {
                    keys.push(k);
                    new_keys.push(new_public_key.clone());
                }
                _ => return Err(SyncError::BadAnswer(format!("HQ entry {}: a key rotation HQ's root key did not sign", p.hq_seq))),
            }
        }
    }
    // HQ signs what it hands over with the key in force now: an old key (which may have been
    // stolen — that is why it was replaced) is good for old co-signatures only.
    let current = keys.last().copied();
    for (p, env) in page.entries.iter().zip(&envs) {
        let sig = hex::decode(&p.signature).ok().and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok());
        let msg = entry_message(p.hq_seq, p.entry.as_bytes());
        let signed = match (sig, current) {
            (Some(s), Some(k)) => k.verify(&msg, &s).is_ok(),
            _ => false,
        };
        if !signed {
            return Err(SyncError::BadAnswer(format!("HQ entry {} is not signed by a key this store trusts", p.hq_seq)));
        }
        if let HqEvent::HqRootKeySet { root_public_key } = &env.event {
            if root.is_none() {
                root = stockade_journal::verifying_key_from_hex(root_public_key);
                new_root = Some(root_public_key.clone());
            }
        }
        copies.push(stockade_journal::backup::HqEntryCopy { hq_seq: p.hq_seq, entry: p.entry.clone(), signature: p.signature.clone() });
    }
    Ok(RegistryUpdate { copies, new_keys, new_root })
}

impl HqClient {
    /// Fetches HQ's copy of this store's journal from the last checkpoint both co-signed and
    /// reconciles the store with it (see `Store::reconcile`).
    pub async fn recover(&self, hq_key: &VerifyingKey) -> Result<stockade_store::integrity::RecoveryReport, SyncError> {
        let from = self.store.last_cosigned()? + 1;
        let page = fetch_pages_from(&self.http, &self.base, "/hq/api/v1/my/journal", &self.store, from).await?;
        let mut entries = Vec::with_capacity(page.entries.len());
        for e in page.entries {
            entries.push((e.seq, e.entry.into_bytes()));
        }
        Ok(self.store.reconcile(entries, page.checkpoints, *hq_key).await?)
    }
}

#[derive(Deserialize)]
struct EnrolmentAnswer {
    hq_id: String,
    retailer_id: String,
    hq_public_key: String,
    hq_size: u64,
}

#[derive(Deserialize)]
struct AckAnswer {
    size: u64,
    hq_signature: String,
    #[serde(default)]
    tree_head: Option<stockade_journal::tree::TreeHead>,
}

/// How the replicator paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Wait between pushes when there is nothing new (also the heartbeat).
    pub idle: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often the store asks for HQ's tree head with an acknowledgement.
    pub tree_head_every: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            idle: Duration::from_secs(2),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            tree_head_every: Duration::from_secs(60),
        }
    }
}

/// Runs until `stop` resolves: pushes new entries, backs off (with jitter) while HQ is away,
/// and catches up by itself when it returns. Selling never waits for it.
pub async fn replicate(store: Store, pacing: Pacing, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut backoff = pacing.min_backoff;
    // One HTTP client (and its connections) for as long as the HQ address stays the same.
    let mut client: Option<HqClient> = None;
    loop {
        let wait = match step(&store, &mut client, pacing.tree_head_every).await {
            Ok(true) => {
                backoff = pacing.min_backoff;
                Duration::ZERO
            }
            Ok(false) => {
                backoff = pacing.min_backoff;
                pacing.idle
            }
            Err(e) => {
                let now = store.clock().now_ms();
                let hq_size = match &e {
                    SyncError::Gap { hq_size } => Some(*hq_size),
                    _ => None,
                };
                tracing::warn!(error = %e, "replication attempt failed");
                if let Err(e2) = store.record_sync_error(e.to_string(), hq_size, now).await {
                    tracing::error!(error = %e2, "cannot record replication state");
                }
                if hq_size.is_some() {
                    Duration::ZERO
                } else {
                    let jitter = rand::random::<f64>() * 0.5 + 0.75;
                    let w = backoff.mul_f64(jitter);
                    backoff = (backoff * 2).min(pacing.max_backoff);
                    w
                }
            }
        };
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One replication step now (push, reconcile if HQ says the store went back in time, pulls).
pub async fn sync_once(store: &Store) -> Result<bool, SyncError> {
    step(store, &mut None, Pacing::default().tree_head_every).await
}

/// One push, then the catalog and purchase-order pulls. `Ok(true)` when there may be more to send right away.
async fn step(store: &Store, client: &mut Option<HqClient>, tree_head_every: Duration) -> Result<bool, SyncError> {
    let store2 = store.clone();
    let cfg = tokio::task::spawn_blocking(move || store2.sync_config()).await.map_err(|e| SyncError::BadAnswer(e.to_string()))??;
    let Some(cfg) = cfg else { return Ok(false) };
    let client = match client {
        Some(c) if c.base == cfg.hq_url.trim_end_matches('/') => c,
        slot => {
            let mut c = HqClient::new(&cfg.hq_url, store.clone())?;
            c.tree_head_every = tree_head_every;
            slot.insert(c)
        }
    };
    // HQ's journal addressed to this store first: it may name a new HQ key (signed by HQ's
    // root key) that HQ's co-signatures are made with from now on.
    if let Err(e) = client.pull_registry().await {
        tracing::warn!(error = %e, "HQ's registry entries not kept");
    }
    let store2 = store.clone();
    let Some(cfg) = tokio::task::spawn_blocking(move || store2.sync_config()).await.map_err(|e| SyncError::BadAnswer(e.to_string()))?? else {
        return Ok(false);
    };
    let hq_key = stockade_journal::verifying_key_from_hex(&cfg.hq_public_key).ok_or_else(|| SyncError::BadAnswer("stored HQ key is malformed".into()))?;
    // On a stale branch (the store found itself behind its witness): HQ's copy first, so the
    // stale entries are re-recorded after what HQ holds instead of being pushed as if nothing
    // had happened.
    if store.health().stale() {
        let report = client.recover(&hq_key).await?;
        tracing::warn!(recovered = report.recovered, reconciled = report.reconciled, lost = report.lost, "journal reconciled with HQ");
        return Ok(true);
    }
    let (acked, store_size) = match client.push_once(&hq_key, cfg.acked_size).await {
        Ok(x) => x,
        // HQ co-signed more than the store holds, or other entries: its database went back in
        // time without the witness noticing (the witness went with it). Same repair.
        Err(SyncError::Rollback { hq_size, message }) => {
            tracing::error!(hq_size, %message, "HQ holds more of this store's journal than the store: reconciling");
            let report = client.recover(&hq_key).await?;
            tracing::warn!(recovered = report.recovered, reconciled = report.reconciled, lost = report.lost, "journal reconciled with HQ");
            return Ok(true);
        }
        Err(e) => return Err(e),
    };
    // A catalog update the store cannot apply must not slow replication down: it is logged and
    // retried at the next step.
    if let Err(e) = client.pull_catalog(&hq_key, &cfg.retailer_id).await {
        tracing::warn!(error = %e, "catalog update from HQ not applied");
    }
    if let Err(e) = client.pull_orders(&hq_key, &cfg.retailer_id).await {
        tracing::warn!(error = %e, "purchase order from HQ not recorded");
    }
    Ok(acked < store_size && acked > cfg.acked_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_journal::hq_event::{entry_message, HqEnvelope, HqEvent};

    fn publication(key: &ed25519_dalek::SigningKey, retailer: &str, retailer_seq: u64) -> Publication {
        let env = HqEnvelope {
            v: 1,
            hq: "hq1".into(),
            seq: 9,
            at_ms: 1,
            actor: "operator".into(),
            event: HqEvent::CatalogPublished { retailer_id: retailer.into(), retailer_seq, products: vec![] },
        };
        let bytes = env.encode().unwrap();
        let signature = hex::encode(ed25519_dalek::Signer::sign(key, &entry_message(9, &bytes)).to_bytes());
        Publication { hq_seq: 9, seq: retailer_seq, entry: String::from_utf8(bytes).unwrap(), signature }
    }

    fn registry_entry(key: &ed25519_dalek::SigningKey, seq: u64, event: HqEvent) -> Publication {
        let env = HqEnvelope { v: 1, hq: "hq1".into(), seq, at_ms: 1, actor: "system".into(), event };
        let bytes = env.encode().unwrap();
        let signature = hex::encode(ed25519_dalek::Signer::sign(key, &entry_message(seq, &bytes)).to_bytes());
        Publication { hq_seq: seq, seq: 0, entry: String::from_utf8(bytes).unwrap(), signature }
    }

    #[test]
    fn a_new_hq_key_is_trusted_only_when_the_root_key_named_it() {
        use stockade_journal::hq_event::rotation_message;
        let [old, new, root, thief] = [1u8, 2, 3, 4].map(|n| ed25519_dalek::SigningKey::from_bytes(&[n; 32]));
        let hx = |k: &ed25519_dalek::SigningKey| hex::encode(k.verifying_key().to_bytes());
        let trust = stockade_store::evidence::HqTrust { keys: vec![old.verifying_key()], root: None, after: 0, rebuilt_at: 0 };
        // The root key arrives in an entry signed by the key the store trusts.
        let page = RegistryPage {
            entries: vec![
                registry_entry(&old, 1, HqEvent::HqInitialized { hq_id: "hq1".into(), name: "HQ".into(), public_key: hx(&old) }),
                registry_entry(&old, 2, HqEvent::HqRootKeySet { root_public_key: hx(&root) }),
            ],
            next_after: 2,
            rebuilt_at: None,
        };
        let u = check_registry_page("hq1", &trust, &page).unwrap();
        assert_eq!((u.copies.len(), u.new_root.clone(), u.new_keys.len()), (2, Some(hx(&root)), 0));
        let trust = stockade_store::evidence::HqTrust { keys: vec![old.verifying_key()], root: Some(root.verifying_key()), after: 2, rebuilt_at: 0 };

        // A rotation signed by the root key: the entries around it, signed with the new key, pass.
        let rotation = |by: &ed25519_dalek::SigningKey, to: &ed25519_dalek::SigningKey| HqEvent::HqKeyRotated {
            old_public_key: hx(&old),
            new_public_key: hx(to),
            root_signature: hex::encode(ed25519_dalek::Signer::sign(by, &rotation_message("hq1", &hx(&old), &hx(to))).to_bytes()),
        };
        let rebuilt = HqEvent::HqRebuilt { stores: 1, recovered: 2, lost: 0 };
        let page = RegistryPage {
            entries: vec![registry_entry(&new, 3, rotation(&root, &new)), registry_entry(&new, 4, rebuilt.clone())],
            next_after: 4,
            rebuilt_at: None,
        };
        let u = check_registry_page("hq1", &trust, &page).unwrap();
        assert_eq!(u.new_keys, vec![hx(&new)]);
        // Once replaced, the old key (perhaps stolen: that is why it was replaced) signs nothing
        // new: it only still checks old co-signatures.
        let after = stockade_store::evidence::HqTrust {
            keys: vec![old.verifying_key(), new.verifying_key()],
            root: Some(root.verifying_key()),
            after: 4,
            rebuilt_at: 0,
        };
        let page = RegistryPage { entries: vec![registry_entry(&old, 5, HqEvent::EntryLost {})], next_after: 5, rebuilt_at: None };
        assert!(check_registry_page("hq1", &after, &page).unwrap_err().to_string().contains("not signed by a key this store trusts"));
        let page = RegistryPage { entries: vec![registry_entry(&new, 5, HqEvent::EntryLost {})], next_after: 5, rebuilt_at: None };
        assert!(check_registry_page("hq1", &after, &page).is_ok());
        // Someone holding a stolen (or self-made) key cannot name it: the root did not sign.
        let page = RegistryPage {
            entries: vec![registry_entry(&thief, 3, rotation(&thief, &thief)), registry_entry(&thief, 4, rebuilt.clone())],
            next_after: 4,
            rebuilt_at: None,
        };
        assert!(check_registry_page("hq1", &trust, &page).unwrap_err().to_string().contains("root key did not sign"));
        // Without a rotation, an entry signed by an unknown key is refused.
        let page = RegistryPage { entries: vec![registry_entry(&thief, 3, rebuilt)], next_after: 3, rebuilt_at: None };
        assert!(check_registry_page("hq1", &trust, &page).unwrap_err().to_string().contains("not signed by a key this store trusts"));
        // A second root key is never taken over the first.
        let page =
            RegistryPage { entries: vec![registry_entry(&old, 3, HqEvent::HqRootKeySet { root_public_key: hx(&thief) })], next_after: 3, rebuilt_at: None };
        assert_eq!(check_registry_page("hq1", &trust, &page).unwrap().new_root, None);
        // Entries of another HQ, or outside the range asked for, are refused.
        let page = RegistryPage { entries: vec![registry_entry(&old, 9, HqEvent::EntryLost {})], next_after: 3, rebuilt_at: None };
        assert!(check_registry_page("hq1", &trust, &page).is_err());
    }

    #[test]
    fn a_request_is_checked_for_its_signature_before_its_time() {
        // Only the store itself can make HQ say its clock is off: a forged request with an odd
        // time is a bad signature, not a clock problem.
        let store = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[6u8; 32]);
        let key_hex = hex::encode(store.verifying_key().to_bytes());
        let sign =
            |k: &ed25519_dalek::SigningKey, t: i64| hex::encode(ed25519_dalek::Signer::sign(k, &request_message(&key_hex, "POST", "/p", t, b"x")).to_bytes());
        let now = 1_000_000_000;
        let far = now + 86_400_000;
        let check = |sig: &str, t: i64| verify_request(&store.verifying_key(), "POST", "/p", &t.to_string(), sig, b"x", now, DEFAULT_MAX_SKEW_MS);
        assert_eq!(check(&sign(&other, far), far), Err(AuthError::Signature));
        assert_eq!(check(&sign(&store, far), far), Err(AuthError::Skew));
        assert_eq!(check(&sign(&store, now), now), Ok(()));
    }

    #[test]
    fn a_publication_is_applied_only_if_hq_signed_it_for_this_retailer_in_order() {
        let hq = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[2u8; 32]);
        let ok = publication(&hq, "acme", 1);
        assert!(verify_publication(&hq.verifying_key(), Addressee::Retailer("acme"), 0, &ok).is_ok());
        assert!(verify_publication(&other.verifying_key(), Addressee::Retailer("acme"), 0, &ok).unwrap_err().contains("not signed"));
        let mut tampered = ok.clone();
        tampered.entry = tampered.entry.replace("acme", "acmf");
        assert!(verify_publication(&hq.verifying_key(), Addressee::Retailer("acmf"), 0, &tampered).is_err());
        assert!(verify_publication(&hq.verifying_key(), Addressee::Retailer("zeta"), 0, &ok).unwrap_err().contains("another retailer"));
        let skipped = publication(&hq, "acme", 3);
        assert!(verify_publication(&hq.verifying_key(), Addressee::Retailer("acme"), 1, &skipped).unwrap_err().contains("missing"));
    }

    #[test]
    fn a_purchase_order_is_applied_only_by_the_store_it_names_and_in_order() {
        let hq = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
        let order = |store: &str, store_seq: u64| {
            let env = HqEnvelope {
                v: 1,
                hq: "hq1".into(),
                seq: 12,
                at_ms: 1,
                actor: "u1".into(),
                event: HqEvent::PurchaseOrderIssued {
                    retailer_id: "acme".into(),
                    store_id: store.into(),
                    store_seq,
                    po_id: format!("PO-{store_seq:06}"),
                    approved_by: "u1".into(),
                    lines: vec![],
                },
            };
            let bytes = env.encode().unwrap();
            let signature = hex::encode(ed25519_dalek::Signer::sign(&hq, &entry_message(12, &bytes)).to_bytes());
            Publication { hq_seq: 12, seq: store_seq, entry: String::from_utf8(bytes).unwrap(), signature }
        };
        let me = Addressee::Store { retailer: "acme", store: "s1" };
        assert!(verify_publication(&hq.verifying_key(), me, 0, &order("s1", 1)).is_ok());
        assert!(verify_publication(&hq.verifying_key(), me, 0, &order("s2", 1)).unwrap_err().contains("another store"));
        assert!(verify_publication(&hq.verifying_key(), Addressee::Store { retailer: "beta", store: "s1" }, 0, &order("s1", 1)).is_err());
        assert!(verify_publication(&hq.verifying_key(), me, 1, &order("s1", 3)).unwrap_err().contains("missing"));
        // A purchase order is not a catalog update, nor the other way round.
        assert!(verify_publication(&hq.verifying_key(), Addressee::Retailer("acme"), 0, &order("s1", 1)).unwrap_err().contains("not a catalog"));
        assert!(verify_publication(&hq.verifying_key(), me, 0, &publication(&hq, "acme", 1)).unwrap_err().contains("not a purchase order"));
    }
}
