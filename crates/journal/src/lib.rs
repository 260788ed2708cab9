//! The journal: every state change of a store (or of HQ) as an entry in an append-only,
//! hash-chained log, with Ed25519-signed checkpoints.
//!
//! * An entry's **bytes** are the exact JSON encoding of an [`Envelope`]; they are stored as
//!   written and never re-serialized to verify.
//! * `hash = SHA-256(prev_hash ‖ bytes)`; the first entry's `prev_hash` is 32 zero bytes.
//! * A [`Checkpoint`] `(store_id, size, head)` signed with the store's key commits to the
//!   whole history up to `size`; HQ co-signs it (issue 3).
//!
//! This crate does no I/O (storage lives in the store and HQ crates), except reading and
//! writing key files in [`keyfile`].

#![forbid(unsafe_code)]

pub mod backup;
pub mod convert;
pub mod event;
pub mod hq_event;
pub mod keyfile;
pub mod payload;
pub mod tree;
pub mod witness;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use backup::SignedCheckpoint;
pub use event::Event;

pub type Hash = [u8; 32];
pub const GENESIS: Hash = [0u8; 32];
/// Version of the envelope format; bump when the envelope itself changes shape.
pub const FORMAT_VERSION: u32 = 1;

pub fn chain_hash(prev: &Hash, bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(bytes);
    h.finalize().into()
}

/// What is hashed and signed for one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub store: String,
    pub seq: u64,
    /// UTC milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// User id of whoever caused the change ("system" for the node itself).
    pub actor: String,
    pub event: Event,
}

impl Envelope {
    /// The bytes of a new entry. Fails only for [`Event::Unknown`], which is never written:
    /// an unknown entry exists only as the bytes a newer release wrote.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        encode_known(self, self.event.kind(), matches!(self.event, Event::Unknown(_)))
    }
    /// Reads stored bytes; a kind this release does not know becomes [`Event::Unknown`]
    /// (a known kind that does not parse is an error).
    pub fn decode(bytes: &[u8]) -> Result<Envelope, serde_json::Error> {
        decode_or_unknown(bytes, Origin::Store, Event::KINDS, |h| Envelope {
            v: h.v,
            store: h.origin,
            seq: h.seq,
            at_ms: h.at_ms,
            actor: h.actor,
            event: Event::Unknown(UnknownKind { kind: h.event.kind }),
        })
    }
}

/// The stored tag of an event kind this release does not know (e.g. `loyalty_earned` or
/// `sale_recorded_v3`, written by a newer release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind {
    pub kind: String,
}

impl UnknownKind {
    /// `(name, version)` of the tag.
    pub fn name_and_version(&self) -> (&str, u32) {
        kind_version(&self.kind)
    }
}

/// An event kind's name and version: `sale_recorded` is version 1, `sale_recorded_v2` version 2.
pub fn kind_version(tag: &str) -> (&str, u32) {
    if let Some((name, v)) = tag.rsplit_once("_v") {
        if let Ok(v) = v.parse::<u32>() {
            if v >= 2 && !name.is_empty() {
                return (name, v);
            }
        }
    }
    (tag, 1)
}

/// "kind v2" for messages.
pub fn describe_kind(tag: &str) -> String {
    let (name, v) = kind_version(tag);
    format!("{name} v{v}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode a '{kind}' entry: {reason}")]
pub struct EncodeError {
    pub kind: String,
    pub reason: String,
}

pub(crate) fn encode_known<T: Serialize>(v: &T, kind: &str, unknown: bool) -> Result<Vec<u8>, EncodeError> {
    if unknown {
        return Err(EncodeError { kind: kind.into(), reason: "an entry of an unknown kind is never written by this release".into() });
    }
    serde_json::to_vec(v).map_err(|e| EncodeError { kind: kind.into(), reason: e.to_string() })
}

/// The envelope's fields and only the tag of its event: what can be read of any entry. The
/// envelope itself never changes, so its field names are exact (`store` for a store's journal,
/// `hq` for HQ's).
pub(crate) struct EnvelopeHead {
    pub v: u32,
    pub origin: String,
    pub seq: u64,
    pub at_ms: i64,
    pub actor: String,
    pub event: KindOnly,
}

#[derive(Deserialize)]
struct StoreHead {
    v: u32,
    store: String,
    seq: u64,
    at_ms: i64,
    actor: String,
    event: KindOnly,
}

#[derive(Deserialize)]
struct HqHead {
    v: u32,
    hq: String,
    seq: u64,
    at_ms: i64,
    actor: String,
    event: KindOnly,
}

impl From<StoreHead> for EnvelopeHead {
    fn from(h: StoreHead) -> Self {
        EnvelopeHead { v: h.v, origin: h.store, seq: h.seq, at_ms: h.at_ms, actor: h.actor, event: h.event }
    }
}

impl From<HqHead> for EnvelopeHead {
    fn from(h: HqHead) -> Self {
        EnvelopeHead { v: h.v, origin: h.hq, seq: h.seq, at_ms: h.at_ms, actor: h.actor, event: h.event }
    }
}

#[derive(Deserialize)]
pub(crate) struct KindOnly {
    pub kind: String,
}

/// Which journal an envelope belongs to (its origin field's name).
#[derive(Clone, Copy)]
pub(crate) enum Origin {
    Store,
    Hq,
}

/// A tag a newer release could have written: 1 to 64 of `a-z`, `0-9`, `_`.
fn plausible_kind(tag: &str) -> bool {
    (1..=64).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(crate) fn decode_or_unknown<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    origin: Origin,
    known: &[&str],
    unknown: impl FnOnce(EnvelopeHead) -> T,
) -> Result<T, serde_json::Error> {
    // JSON is UTF-8; the parser does not check strings it skips (unknown fields), and an entry
    // is carried by its bytes, so they are checked here once for all.
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(<serde_json::Error as serde::de::Error>::custom(format!("the entry is not UTF-8: {e}")));
    }
    match serde_json::from_slice::<T>(bytes) {
        Ok(t) => Ok(t),
        Err(err) => {
            let head: Option<EnvelopeHead> = match origin {
                Origin::Store => serde_json::from_slice::<StoreHead>(bytes).ok().map(Into::into),
                Origin::Hq => serde_json::from_slice::<HqHead>(bytes).ok().map(Into::into),
            };
            match head {
                Some(head) if !known.contains(&head.event.kind.as_str()) && plausible_kind(&head.event.kind) => Ok(unknown(head)),
                _ => Err(err),
            }
        }
    }
}

/// An entry as stored: the exact bytes plus the columns kept beside them for queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub actor: String,
    pub kind: String,
    pub bytes: Vec<u8>,
    pub prev_hash: Hash,
    pub hash: Hash,
}

impl StoredEntry {
    /// Builds a new entry after `prev_hash` from an envelope: the only place bytes are made.
    pub fn seal(env: &Envelope, prev_hash: Hash) -> Result<StoredEntry, EncodeError> {
        let bytes = env.encode()?;
        Ok(StoredEntry::from_bytes(env, bytes, prev_hash))
    }
    /// An entry from bytes as they were stored or received (never re-encoded) and their
    /// decoded envelope: its identity is the bytes and their hash.
    pub fn from_bytes(env: &Envelope, bytes: Vec<u8>, prev_hash: Hash) -> StoredEntry {
        let hash = chain_hash(&prev_hash, &bytes);
        StoredEntry { seq: env.seq, at_ms: env.at_ms, actor: env.actor.clone(), kind: env.event.kind().to_string(), bytes, prev_hash, hash }
    }
}

/// `(store_id, size, head)`: the journal of `store_id` has `size` entries and its last hash is `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub store_id: String,
    pub size: u64,
    #[serde(with = "hex_hash")]
    pub head: Hash,
}

impl Checkpoint {
    /// The signed text, in the spirit of C2SP tlog-checkpoint: origin, size, head, one per line.
    pub fn message(&self) -> Vec<u8> {
        format!("stockade-journal/v1\n{}\n{}\n{}\n", self.store_id, self.size, hex::encode(self.head)).into_bytes()
    }
    pub fn sign(&self, key: &SigningKey) -> [u8; 64] {
        key.sign(&self.message()).to_bytes()
    }
    pub fn verify(&self, key: &VerifyingKey, signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else { return false };
        key.verify(&self.message(), &sig).is_ok()
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("a hash is 32 bytes"))
    }
}

/// What is wrong with a journal, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {expected} is missing (found entry {found} next)")]
    Gap { expected: u64, found: u64 },
    #[error("entry {seq}: prev_hash does not match the hash of entry {prev}")]
    BrokenLink { seq: u64, prev: u64 },
    #[error("entry {seq}: hash does not match its bytes (content changed)")]
    BadHash { seq: u64 },
    #[error("entry {seq}: payload cannot be read: {reason}")]
    Unreadable { seq: u64, reason: String },
    #[error("entry {seq}: column {column} differs from the signed bytes")]
    ColumnMismatch { seq: u64, column: &'static str },
    #[error("checkpoint at size {size}: {reason}")]
    BadCheckpoint { size: u64, reason: String },
    #[error("journal ends at entry {have} but a signed head says {signed} entries exist")]
    Truncated { have: u64, signed: u64 },
}

/// Incremental verifier: feed entries in sequence order; it checks numbering, links, hashes,
/// that the columns agree with the signed bytes, and returns the decoded envelope.
pub struct ChainVerifier {
    store_id: String,
    next_seq: u64,
    head: Hash,
}

impl ChainVerifier {
    pub fn new(store_id: &str) -> Self {
        ChainVerifier { store_id: store_id.to_string(), next_seq: 1, head: GENESIS }
    }
    /// Continue a chain from a known (size, head), e.g. HQ appending a batch.
    pub fn resume(store_id: &str, size: u64, head: Hash) -> Self {
        ChainVerifier { store_id: store_id.to_string(), next_seq: size.saturating_add(1), head }
    }
    pub fn size(&self) -> u64 {
        self.next_seq - 1
    }
    pub fn head(&self) -> Hash {
        self.head
    }

    /// Appends received bytes `(seq, bytes)` to the chain: decodes them once, hashes them as
    /// they are (never re-encoded), and checks numbering, store and format. Returns the entry
    /// and its envelope.
    pub fn push_bytes(&mut self, seq: u64, bytes: &[u8]) -> Result<(StoredEntry, Envelope), ChainError> {
        if seq != self.next_seq {
            return Err(ChainError::Gap { expected: self.next_seq, found: seq });
        }
        let env = Envelope::decode(bytes).map_err(|err| ChainError::Unreadable { seq, reason: err.to_string() })?;
        let e = StoredEntry::from_bytes(&env, bytes.to_vec(), self.head);
        self.check(&e, &env)?;
        Ok((e, env))
    }

    /// Checks a stored entry (bytes plus the columns kept beside them) as the next one.
    pub fn push(&mut self, e: &StoredEntry) -> Result<Envelope, ChainError> {
        if e.seq != self.next_seq {
            return Err(ChainError::Gap { expected: self.next_seq, found: e.seq });
        }
        self.check_link(e)?;
        let env = Envelope::decode(&e.bytes).map_err(|err| ChainError::Unreadable { seq: e.seq, reason: err.to_string() })?;
        self.check(e, &env)?;
        Ok(env)
    }

    fn check_link(&self, e: &StoredEntry) -> Result<(), ChainError> {
        if e.prev_hash != self.head {
            return Err(ChainError::BrokenLink { seq: e.seq, prev: e.seq - 1 });
        }
        if chain_hash(&e.prev_hash, &e.bytes) != e.hash {
            return Err(ChainError::BadHash { seq: e.seq });
        }
        Ok(())
    }

    fn check(&mut self, e: &StoredEntry, env: &Envelope) -> Result<(), ChainError> {
        self.check_link(e)?;
        let mismatch = |column| Err(ChainError::ColumnMismatch { seq: e.seq, column });
        if env.seq != e.seq {
            return mismatch("seq");
        }
        if env.store != self.store_id {
            return mismatch("store");
        }
        if env.at_ms != e.at_ms {
            return mismatch("recorded_at");
        }
        if env.actor != e.actor {
            return mismatch("actor");
        }
        if env.event.kind() != e.kind {
            return mismatch("kind");
        }
        if env.v > FORMAT_VERSION {
            return Err(ChainError::Unreadable { seq: e.seq, reason: format!("format version {} is newer than this program", env.v) });
        }
        self.next_seq += 1;
        self.head = e.hash;
        Ok(())
    }
}

pub fn verifying_key_from_hex(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u64) -> Vec<StoredEntry> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let env = Envelope {
                    v: FORMAT_VERSION,
                    store: "s1".into(),
                    seq,
                    at_ms: 1_700_000_000_000 + seq as i64,
                    actor: "u1".into(),
                    event: Event::TillOpened { till_id: format!("t{seq}"), register: "R1".into(), float_minor: 100 },
                };
                let e = StoredEntry::seal(&env, prev).unwrap();
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_single_change_is_named() {
        let es = entries(5);
        let mut v = ChainVerifier::new("s1");
        for e in &es {
            v.push(e).unwrap();
        }
        assert_eq!(v.size(), 5);

        let run = |es: &[StoredEntry]| {
            let mut v = ChainVerifier::new("s1");
            es.iter().try_for_each(|e| v.push(e).map(|_| ()))
        };
        let mut bad = es.clone();
        bad[2].bytes[20] ^= 1;
        assert_eq!(run(&bad), Err(ChainError::BadHash { seq: 3 }));
        let mut bad = es.clone();
        bad.remove(1);
        assert_eq!(run(&bad), Err(ChainError::Gap { expected: 2, found: 3 }));
        let mut bad = es.clone();
        bad[3].actor = "mallory".into();
        assert_eq!(run(&bad), Err(ChainError::ColumnMismatch { seq: 4, column: "actor" }));
        let mut bad = es.clone();
        bad[4].prev_hash[0] ^= 1;
        assert_eq!(run(&bad), Err(ChainError::BrokenLink { seq: 5, prev: 4 }));
    }

    #[test]
    fn an_entry_of_an_unknown_kind_is_kept_and_verified_by_its_bytes() {
        let key = b"{\"v\":1,\"store\":\"s1\",\"seq\":1,\"at_ms\":5,\"actor\":\"u1\",\"event\":{\"kind\":\"loyalty_earned_v3\",\"points\":7,\"nested\":{\"a\":[1,2]}}}";
        let env = Envelope::decode(key).unwrap();
        assert_eq!(env.event, Event::Unknown(UnknownKind { kind: "loyalty_earned_v3".into() }));
        assert_eq!(env.event.kind(), "loyalty_earned_v3");
        assert_eq!(kind_version("loyalty_earned_v3"), ("loyalty_earned", 3));
        assert_eq!(describe_kind("sale_recorded"), "sale_recorded v1");
        // Never re-encoded: an unknown entry cannot be written, only carried.
        assert!(env.encode().is_err());
        let mut v = ChainVerifier::new("s1");
        let (e, env2) = v.push_bytes(1, key).unwrap();
        assert_eq!(e.bytes, key.to_vec());
        assert_eq!(e.hash, chain_hash(&GENESIS, key));
        assert_eq!(env2.event.kind(), "loyalty_earned_v3");
        // Bytes that are not UTF-8 (inside a field the parser would skip), a tag no release
        // writes, or another journal's envelope are errors, not unknown kinds.
        let mut not_utf8 = key.to_vec();
        let at = not_utf8.windows(6).position(|w| w == b"nested").unwrap();
        not_utf8[at] = 0xff;
        assert!(Envelope::decode(&not_utf8).is_err());
        assert!(matches!(ChainVerifier::new("s1").push_bytes(1, &not_utf8), Err(ChainError::Unreadable { .. })));
        let odd_tag = String::from_utf8(key.to_vec()).unwrap().replace("loyalty_earned_v3", "Loyalty Earned\\u0000");
        assert!(Envelope::decode(odd_tag.as_bytes()).is_err());
        let hq_shaped = String::from_utf8(key.to_vec()).unwrap().replace("\"store\"", "\"hq\"");
        assert!(Envelope::decode(hq_shaped.as_bytes()).is_err(), "a store entry's envelope says `store`");
        assert!(crate::hq_event::HqEnvelope::decode(hq_shaped.as_bytes()).is_ok());
        // A known kind that does not parse is an error, not an unknown kind.
        let bad = b"{\"v\":1,\"store\":\"s1\",\"seq\":1,\"at_ms\":5,\"actor\":\"u1\",\"event\":{\"kind\":\"sale_voided\",\"sale_id\":7}}";
        assert!(Envelope::decode(bad).is_err());
        assert!(matches!(ChainVerifier::new("s1").push_bytes(1, bad), Err(ChainError::Unreadable { seq: 1, .. })));
    }

    #[test]
    fn received_bytes_are_hashed_as_they_are_not_as_this_release_would_write_them() {
        // Same content, other spelling (spaces, field order): a different entry, accepted as is.
        let a = b"{\"v\":1,\"store\":\"s1\",\"seq\":1,\"at_ms\":5,\"actor\":\"u1\",\"event\":{\"kind\":\"sale_voided\",\"sale_id\":\"x\",\"reason\":\"r\"}}";
        let b =
            b"{ \"event\": {\"reason\":\"r\", \"sale_id\":\"x\", \"kind\":\"sale_voided\"}, \"v\":1,\"store\":\"s1\",\"seq\":1,\"at_ms\":5,\"actor\":\"u1\"}";
        let (ea, _) = ChainVerifier::new("s1").push_bytes(1, a).unwrap();
        let (eb, envb) = ChainVerifier::new("s1").push_bytes(1, b).unwrap();
        assert_ne!(ea.hash, eb.hash);
        assert_eq!(eb.bytes, b.to_vec());
        assert_eq!(envb.event, Event::SaleVoided { sale_id: "x".into(), reason: "r".into() });
    }

    proptest::proptest! {
        /// No bytes make the decoder or the verifier panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), text in "\\PC{0,200}") {
            let _ = Envelope::decode(&bytes);
            let _ = ChainVerifier::new("s1").push_bytes(1, &bytes);
            let _ = crate::hq_event::HqEnvelope::decode(text.as_bytes());
            let wrapped = format!("{{\"v\":1,\"store\":\"s1\",\"seq\":1,\"at_ms\":5,\"actor\":\"u\",\"event\":{{\"kind\":{}}}}}", serde_json::to_string(&text).unwrap());
            let _ = Envelope::decode(wrapped.as_bytes());
            let _ = kind_version(&text);
        }
    }

    #[test]
    fn checkpoints_verify_only_with_the_right_key_and_content() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let cp = Checkpoint { store_id: "s1".into(), size: 5, head: [1u8; 32] };
        let sig = cp.sign(&key);
        assert!(cp.verify(&key.verifying_key(), &sig));
        assert!(!cp.verify(&other.verifying_key(), &sig));
        let forged = Checkpoint { size: 6, ..cp.clone() };
        assert!(!forged.verify(&key.verifying_key(), &sig));
        assert!(!cp.verify(&key.verifying_key(), &sig[..63]));
    }
}
