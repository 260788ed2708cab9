//! Witnessed history: HQ's signed statement over every store's head, as a Merkle tree head
//! (the tree hash of RFC 6962, as Certificate Transparency uses).
//!
//! * A **leaf** is one store's head as HQ holds it: `SHA-256(0x00 ‖ "stockade-leaf/v1\n" store
//!   id "\n" size "\n" head "\n")`. It hides the size and head: a store that receives the tree
//!   learns which stores exist and when their heads change, never how far another store's
//!   journal has gone.
//! * The **tree head** `(hq_id, at_ms, count, root)` is signed by HQ (`stockade-tree-head/v1`)
//!   and handed with the leaves to a store that asks (once a minute by default), which checks
//!   them against the root and its own head before keeping it.
//! * A rebuild recomputes each store's leaf at every size of the journal it is given: a tree
//!   head held by any store whose leaf for that store matches no prefix of the journal is a
//!   contradiction, even if the journal was signed with the store's real key.

use crate::Hash;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One store's leaf, as HQ witnessed it.
pub fn leaf_hash(store_id: &str, size: u64, head: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(format!("stockade-leaf/v1\n{store_id}\n{size}\n{}\n", hex::encode(head)).as_bytes());
    h.finalize().into()
}

/// The Merkle tree hash of RFC 6962 over leaf hashes (each already prefixed with 0x00).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            // The largest power of two smaller than n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(merkle_root(&leaves[..k]));
            h.update(merkle_root(&leaves[k..]));
            h.finalize().into()
        }
    }
}

/// A store's leaf in a tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaf {
    pub store_id: String,
    /// [`leaf_hash`] in hex.
    pub hash: String,
}

/// HQ's signed statement over every store's head at one moment, with the leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    pub hq_id: String,
    pub at_ms: i64,
    pub count: u64,
    /// [`merkle_root`] of the leaves, in hex.
    pub root: String,
    /// HQ's signature of [`TreeHead::message`], in hex.
    pub signature: String,
    /// Sorted by store id, one per store.
    pub leaves: Vec<Leaf>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeHeadError {
    #[error("the tree head's leaves are malformed or not sorted by store")]
    Leaves,
    #[error("the tree head's leaves do not hash to its root")]
    Root,
    #[error("the tree head is not signed by the given HQ key")]
    Signature,
}

impl TreeHead {
    /// Signs the tree over `heads` (store id, size, head), in any order.
    pub fn sign(hq_id: &str, at_ms: i64, heads: &[(String, u64, Hash)], key: &SigningKey) -> TreeHead {
        let mut leaves: Vec<(String, Hash)> = heads.iter().map(|(s, n, h)| (s.clone(), leaf_hash(s, *n, h))).collect();
        leaves.sort_by(|a, b| a.0.cmp(&b.0));
        leaves.dedup_by(|a, b| a.0 == b.0);
        let root = merkle_root(&leaves.iter().map(|l| l.1).collect::<Vec<_>>());
        let mut th = TreeHead {
            hq_id: hq_id.into(),
            at_ms,
            count: leaves.len() as u64,
            root: hex::encode(root),
            signature: String::new(),
            leaves: leaves.into_iter().map(|(store_id, h)| Leaf { store_id, hash: hex::encode(h) }).collect(),
        };
        th.signature = hex::encode(key.sign(&th.message()).to_bytes());
        th
    }

    pub fn message(&self) -> Vec<u8> {
        format!("stockade-tree-head/v1\n{}\n{}\n{}\n{}\n", self.hq_id, self.at_ms, self.count, self.root).into_bytes()
    }

    /// Checks the leaves against the root and the root's signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), TreeHeadError> {
        let mut hashes = Vec::with_capacity(self.leaves.len());
        for (i, l) in self.leaves.iter().enumerate() {
            if i > 0 && self.leaves[i - 1].store_id >= l.store_id {
                return Err(TreeHeadError::Leaves);
            }
            hashes.push(parse_hash(&l.hash).ok_or(TreeHeadError::Leaves)?);
        }
        if hashes.len() as u64 != self.count {
            return Err(TreeHeadError::Leaves);
        }
        if Some(merkle_root(&hashes)) != parse_hash(&self.root) {
            return Err(TreeHeadError::Root);
        }
        let sig = hex::decode(&self.signature).ok().and_then(|s| Signature::from_slice(&s).ok()).ok_or(TreeHeadError::Signature)?;
        key.verify(&self.message(), &sig).map_err(|_| TreeHeadError::Signature)
    }

    /// The leaf this tree holds for `store_id`.
    pub fn leaf_of(&self, store_id: &str) -> Option<Hash> {
        let i = self.leaves.binary_search_by(|l| l.store_id.as_str().cmp(store_id)).ok()?;
        parse_hash(&self.leaves[i].hash)
    }
}

/// Where a store's journal contradicts what HQ witnessed: for every tree head with a leaf for
/// `store_id`, some prefix of `entries` (exact bytes, from 1) must have that leaf. Returns the
/// earliest contradicting tree head and the furthest prefix any tree head witnessed, or `None`
/// when every witnessed head is a prefix of the journal. The caller checks the signatures.
pub fn contradiction<'a>(store_id: &str, entries: &[(u64, Vec<u8>)], heads: &[&'a TreeHead]) -> Option<(&'a TreeHead, u64)> {
    let mut leaves: std::collections::HashMap<Hash, u64> = std::collections::HashMap::with_capacity(entries.len() + 1);
    let mut head = crate::GENESIS;
    leaves.insert(leaf_hash(store_id, 0, &head), 0);
    for (seq, bytes) in entries {
        head = crate::chain_hash(&head, bytes);
        leaves.insert(leaf_hash(store_id, *seq, &head), *seq);
    }
    let mut agreed = 0u64;
    let mut first: Option<&TreeHead> = None;
    for t in heads {
        if let Some(l) = t.leaf_of(store_id) {
            match leaves.get(&l) {
                Some(s) => agreed = agreed.max(*s),
                None => {
                    if first.is_none_or(|c| t.at_ms < c.at_ms) {
                        first = Some(t);
                    }
                }
            }
        }
    }
    first.map(|t| (t, agreed))
}

fn parse_hash(h: &str) -> Option<Hash> {
    hex::decode(h).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_root_follows_rfc_6962() {
        let l: Vec<Hash> = (0u8..5).map(|i| [i; 32]).collect();
        let node = |a: Hash, b: Hash| -> Hash {
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(a);
            h.update(b);
            h.finalize().into()
        };
        // Five leaves: the left subtree holds four, the right one.
        let expected = node(node(node(l[0], l[1]), node(l[2], l[3])), l[4]);
        assert_eq!(merkle_root(&l), expected);
        assert_eq!(merkle_root(&l[..3]), node(node(l[0], l[1]), l[2]));
        assert_eq!(merkle_root(&[]), <[u8; 32]>::from(Sha256::digest([])));
    }

    #[test]
    fn a_tree_head_verifies_and_any_change_is_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let heads = vec![("s2".to_string(), 10, [2u8; 32]), ("s1".to_string(), 4, [1u8; 32]), ("s3".to_string(), 0, [0u8; 32])];
        let th = TreeHead::sign("hq", 5, &heads, &key);
        assert_eq!(th.verify(&key.verifying_key()), Ok(()));
        assert_eq!(th.leaf_of("s1"), Some(leaf_hash("s1", 4, &[1u8; 32])));
        assert_eq!(th.leaf_of("s9"), None);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert_eq!(th.verify(&other.verifying_key()), Err(TreeHeadError::Signature));
        let mut swapped = th.clone();
        swapped.leaves[0].hash = hex::encode(leaf_hash("s1", 5, &[1u8; 32]));
        assert_eq!(swapped.verify(&key.verifying_key()), Err(TreeHeadError::Root));
        let mut unsorted = th.clone();
        unsorted.leaves.swap(0, 1);
        assert_eq!(unsorted.verify(&key.verifying_key()), Err(TreeHeadError::Leaves));
        let mut later = th.clone();
        later.at_ms += 1;
        assert_eq!(later.verify(&key.verifying_key()), Err(TreeHeadError::Signature));
    }

    #[test]
    fn a_rewritten_history_contradicts_the_heads_witnessed_after_the_change() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let entries: Vec<(u64, Vec<u8>)> = (1..=6).map(|i| (i, format!("entry {i}").into_bytes())).collect();
        let mut heads = vec![crate::GENESIS];
        for (_, e) in &entries {
            heads.push(crate::chain_hash(heads.last().unwrap(), e));
        }
        let witnessed: Vec<TreeHead> = [2u64, 4, 6].iter().map(|n| TreeHead::sign("hq", *n as i64, &[("s1".into(), *n, heads[*n as usize])], &key)).collect();
        let refs: Vec<&TreeHead> = witnessed.iter().collect();
        assert_eq!(contradiction("s1", &entries, &refs), None);
        // Entry 3 rewritten: the heads witnessed at 4 and 6 no longer match; 2 still does.
        let mut forged = entries.clone();
        forged[2].1 = b"entry 3, $10 lower".to_vec();
        let (t, agreed) = contradiction("s1", &forged, &refs).unwrap();
        assert_eq!((t.at_ms, agreed), (4, 2));
        // Cut back to 3 entries: the head witnessed at 4 is beyond it.
        assert_eq!(contradiction("s1", &entries[..3], &refs).map(|(t, a)| (t.at_ms, a)), Some((4, 2)));
        // Another store's leaves say nothing about this one.
        assert_eq!(contradiction("s2", &forged, &refs), None);
    }

    proptest! {
        #[test]
        fn a_tree_head_from_arbitrary_json_never_panics(s in "\\PC*", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
            for text in [s, String::from_utf8_lossy(&bytes).into_owned()] {
                if let Ok(th) = serde_json::from_str::<TreeHead>(&text) {
                    let _ = th.verify(&key);
                    let _ = th.leaf_of("s1");
                }
            }
        }

        #[test]
        fn a_root_changes_when_any_leaf_does(n in 1usize..40, i in 0usize..40, b in 0u8..255) {
            let leaves: Vec<Hash> = (0..n).map(|j| [j as u8; 32]).collect();
            let mut changed = leaves.clone();
            let i = i % n;
            changed[i][0] ^= b | 1;
            prop_assert_ne!(merkle_root(&leaves), merkle_root(&changed));
        }
    }
}
