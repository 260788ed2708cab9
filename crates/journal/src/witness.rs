//! Evidence of how far a store's journal has gone, kept outside its database.
//!
//! * A [`HeadStatement`] is what the store signs for its current head at every commit: its
//!   size, last hash and the highest receipt number issued. Its signed text starts with
//!   `stockade-head/v2`, so a checkpoint signature (`stockade-journal/v1`, which HQ co-signs and
//!   which an old copy of the `checkpoints` table holds) can never pass as the head's.
//! * The **witness file** beside the database gets one signed line per commit, appended and
//!   synced before the sale is acknowledged. A database put back in time (an old copy, a lost
//!   write-ahead log, a truncated journal) ends before the witness does: the store notices at
//!   start, before the next sale, without asking anyone.
//! * A line written while the store sells on a *stale branch* (it found itself behind and HQ
//!   was unreachable) names the truth it is behind (`truth_size`, `truth_head`), so the branch
//!   never passes for the truth and its receipt numbers are never issued again.

use crate::Hash;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The store's head as signed at every commit (kept in the `head` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadStatement {
    pub store_id: String,
    pub size: u64,
    pub head: Hash,
    /// The highest receipt (sale) number issued so far.
    pub sale_no: u64,
}

impl HeadStatement {
    pub fn message(&self) -> Vec<u8> {
        format!("stockade-head/v2\n{}\n{}\n{}\n{}\n", self.store_id, self.size, hex::encode(self.head), self.sale_no).into_bytes()
    }
    pub fn sign(&self, key: &SigningKey) -> [u8; 64] {
        key.sign(&self.message()).to_bytes()
    }
    pub fn verify(&self, key: &VerifyingKey, signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else { return false };
        key.verify(&self.message(), &sig).is_ok()
    }
}

/// The size and head of the history a stale branch is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truth {
    pub size: u64,
    pub head: Hash,
}

/// One line of the witness file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRecord {
    pub size: u64,
    pub head: Hash,
    pub sale_no: u64,
    /// Set on a stale branch: the witnessed history this branch is behind.
    pub truth: Option<Truth>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    size: u64,
    head: String,
    sale_no: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    truth_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    truth_head: Option<String>,
    sig: String,
}

impl WitnessRecord {
    fn message(&self, store_id: &str) -> Vec<u8> {
        let (ts, th) = match &self.truth {
            Some(t) => (t.size.to_string(), hex::encode(t.head)),
            None => ("-".into(), "-".into()),
        };
        format!("stockade-witness/v1\n{store_id}\n{}\n{}\n{}\n{ts}\n{th}\n", self.size, hex::encode(self.head), self.sale_no).into_bytes()
    }

    /// The record as one signed line, newline included.
    pub fn line(&self, store_id: &str, key: &SigningKey) -> Vec<u8> {
        let sig = key.sign(&self.message(store_id)).to_bytes();
        let l = Line {
            size: self.size,
            head: hex::encode(self.head),
            sale_no: self.sale_no,
            truth_size: self.truth.map(|t| t.size),
            truth_head: self.truth.map(|t| hex::encode(t.head)),
            sig: hex::encode(sig),
        };
        // A plain struct of numbers and strings: serializing cannot fail.
        let mut out = serde_json::to_vec(&l).unwrap_or_default();
        out.push(b'\n');
        out
    }

    fn parse(line: &str, store_id: &str, key: &VerifyingKey) -> Option<WitnessRecord> {
        let l: Line = serde_json::from_str(line).ok()?;
        let hash = |h: &str| -> Option<Hash> { hex::decode(h).ok()?.try_into().ok() };
        let truth = match (l.truth_size, l.truth_head) {
            (Some(size), Some(h)) => Some(Truth { size, head: hash(&h)? }),
            (None, None) => None,
            _ => return None,
        };
        let r = WitnessRecord { size: l.size, head: hash(&l.head)?, sale_no: l.sale_no, truth };
        let sig = Signature::from_slice(&hex::decode(&l.sig).ok()?).ok()?;
        key.verify(&r.message(store_id), &sig).ok()?;
        Some(r)
    }
}

/// What a witness file says, read and checked line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Witness {
    /// The furthest point of the store's history (lines not written on a stale branch).
    pub furthest: Option<WitnessRecord>,
    /// The highest receipt number any line records (stale branches included).
    pub sale_no: u64,
    /// The last valid line, whatever its kind.
    pub last: Option<WitnessRecord>,
    /// Valid lines read.
    pub lines: u64,
    /// Lines that do not verify (a torn last line after a crash, or tampering).
    pub bad_lines: u64,
}

impl Witness {
    /// Reads a witness file's bytes; lines that do not parse or do not verify with `key` are
    /// counted, never trusted. Never panics, whatever the bytes.
    pub fn read(bytes: &[u8], store_id: &str, key: &VerifyingKey) -> Witness {
        let mut w = Witness::default();
        for raw in bytes.split(|b| *b == b'\n') {
            if raw.is_empty() {
                continue;
            }
            let Some(r) = std::str::from_utf8(raw).ok().and_then(|l| WitnessRecord::parse(l, store_id, key)) else {
                w.bad_lines += 1;
                continue;
            };
            w.lines += 1;
            w.sale_no = w.sale_no.max(r.sale_no);
            if r.truth.is_none() && w.furthest.as_ref().is_none_or(|f| r.size > f.size) {
                w.furthest = Some(r.clone());
            }
            // A stale line names the truth it is behind: that truth is witnessed too.
            if let Some(t) = r.truth {
                if w.furthest.as_ref().is_none_or(|f| t.size > f.size) {
                    w.furthest = Some(WitnessRecord { size: t.size, head: t.head, sale_no: r.sale_no, truth: None });
                }
            }
            w.last = Some(r);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3u8; 32])
    }

    #[test]
    fn a_head_signature_is_not_a_checkpoint_signature() {
        let k = key();
        let st = HeadStatement { store_id: "s1".into(), size: 256, head: [9u8; 32], sale_no: 40 };
        let cp = crate::Checkpoint { store_id: "s1".into(), size: 256, head: [9u8; 32] };
        assert!(st.verify(&k.verifying_key(), &st.sign(&k)));
        assert!(!st.verify(&k.verifying_key(), &cp.sign(&k)), "a checkpoint signature never passes as the head's");
        assert!(!cp.verify(&k.verifying_key(), &st.sign(&k)));
        assert!(!HeadStatement { sale_no: 39, ..st.clone() }.verify(&k.verifying_key(), &st.sign(&k)));
    }

    #[test]
    fn the_witness_keeps_the_furthest_point_and_ignores_what_does_not_verify() {
        let k = key();
        let r = |size: u64, sale_no: u64, truth: Option<Truth>| WitnessRecord { size, head: [size as u8; 32], sale_no, truth };
        let mut file = Vec::new();
        file.extend(r(5, 1, None).line("s1", &k));
        file.extend(r(9, 3, None).line("s1", &k));
        // A stale branch behind size 9: its own sizes never pass for the truth.
        file.extend(r(7, 4, Some(Truth { size: 9, head: [9u8; 32] })).line("s1", &k));
        file.extend(r(12, 5, Some(Truth { size: 9, head: [9u8; 32] })).line("s1", &k));
        // Another store's line, an edited line and a torn one are not trusted.
        file.extend(r(50, 60, None).line("s2", &k));
        let edited = String::from_utf8(r(40, 2, None).line("s1", &k)).unwrap().replace("\"size\":40", "\"size\":41");
        file.extend(edited.as_bytes());
        let torn = r(60, 2, None).line("s1", &k);
        file.extend(&torn[..torn.len() / 2]);
        let w = Witness::read(&file, "s1", &k.verifying_key());
        assert_eq!(w.furthest.as_ref().map(|f| (f.size, f.head)), Some((9, [9u8; 32])));
        assert_eq!(w.sale_no, 5);
        assert_eq!(w.last.as_ref().map(|l| l.size), Some(12));
        assert_eq!((w.lines, w.bad_lines), (4, 3));
        assert_eq!(Witness::read(b"", "s1", &k.verifying_key()), Witness::default());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_witness_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), text in "\\PC{0,300}") {
            let k = key().verifying_key();
            let _ = Witness::read(&bytes, "s1", &k);
            let w = Witness::read(text.as_bytes(), "s1", &k);
            proptest::prop_assert_eq!(w.lines, 0);
        }
    }
}
