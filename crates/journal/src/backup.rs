//! The backup file format: JSON lines that verify themselves. A header, every entry's exact
//! bytes in order, the signed checkpoints, and an end line with the size and head hash. Reading
//! recomputes the whole chain and checks the end line, so a truncated, reordered or edited file
//! is refused; checkpoint signatures are checked by whoever knows which key to trust.

use crate::{chain_hash, Hash, GENESIS};
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "stockade-backup/1";
/// A store backup that also carries what the store holds to vouch for HQ ([`HqEvidence`]).
/// Files of format 1 read as before, with no evidence.
pub const FORMAT_2: &str = "stockade-backup/2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    /// "store" or "hq".
    pub journal: String,
    pub id: String,
    pub public_key: String,
    pub created_ms: i64,
}

/// A checkpoint as it travels (backups, replication, restores): the store's signature and,
/// once HQ acknowledged it, HQ's co-signature; hashes and signatures in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub head: String,
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hq_signature: Option<String>,
}

/// An entry of HQ's journal as a store holds it: its number, exact bytes, and the signature
/// (of [`crate::hq_event::entry_message`]) by the HQ key that handed it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HqEntryCopy {
    pub hq_seq: u64,
    pub entry: String,
    pub signature: String,
}

/// What a store holds to vouch for head office, so HQ can be rebuilt from its stores alone:
/// the part of HQ's journal addressed to it, every HQ key it has trusted (oldest first), HQ's
/// root key, and the latest tree heads over all stores' heads HQ handed it. Each item carries
/// HQ's signature; none is trusted for being in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HqEvidence {
    pub hq_entries: Vec<HqEntryCopy>,
    pub hq_keys: Vec<String>,
    pub root_key: Option<String>,
    pub tree_heads: Vec<crate::tree::TreeHead>,
    /// How far HQ's journal went when the store last read it (entries beyond the last one it
    /// holds were not addressed to it): a rebuilt HQ's new entries come after this.
    #[serde(default)]
    pub hq_seen: u64,
}

impl HqEvidence {
    pub fn is_empty(&self) -> bool {
        self.hq_entries.is_empty() && self.hq_keys.is_empty() && self.root_key.is_none() && self.tree_heads.is_empty() && self.hq_seen == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Entry { seq: u64, entry: String },
    Checkpoint(SignedCheckpoint),
    HqEntry(HqEntryCopy),
    HqKey { public_key: String, role: String },
    TreeHead(crate::tree::TreeHead),
    HqSeen { after: u64 },
    End { size: u64, head: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub header: Header,
    pub entries: Vec<(u64, Vec<u8>)>,
    pub checkpoints: Vec<SignedCheckpoint>,
    pub head: Hash,
    /// Empty in format 1 and in HQ's own backups.
    pub evidence: HqEvidence,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("the file ends without its end line: it is truncated")]
    Truncated,
    #[error("the end line says {expected} entries with head {expected_head} but the file holds {found} with head {found_head}")]
    Mismatch { expected: u64, expected_head: String, found: u64, found_head: String },
}

/// Encodes a backup. Entries must be the exact bytes, in sequence order from 1.
pub fn encode(header: &Header, entries: &[(u64, Vec<u8>)], checkpoints: &[SignedCheckpoint]) -> Vec<u8> {
    encode_with(header, entries, checkpoints, &HqEvidence::default())
}

/// [`encode`] with the store's evidence about HQ (format 2 when there is any).
pub fn encode_with(header: &Header, entries: &[(u64, Vec<u8>)], checkpoints: &[SignedCheckpoint], evidence: &HqEvidence) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |v: &dyn erased::Json| {
        out.extend_from_slice(&v.json());
        out.push(b'\n');
    };
    let mut header = header.clone();
    header.format = if evidence.is_empty() { FORMAT } else { FORMAT_2 }.into();
    push(&header);
    let mut head = GENESIS;
    for (seq, bytes) in entries {
        head = chain_hash(&head, bytes);
        push(&Line::Entry { seq: *seq, entry: String::from_utf8_lossy(bytes).into_owned() });
    }
    for c in checkpoints {
        push(&Line::Checkpoint(c.clone()));
    }
    for e in &evidence.hq_entries {
        push(&Line::HqEntry(e.clone()));
    }
    if let Some(k) = &evidence.root_key {
        push(&Line::HqKey { public_key: k.clone(), role: "root".into() });
    }
    for k in &evidence.hq_keys {
        push(&Line::HqKey { public_key: k.clone(), role: "hq".into() });
    }
    for t in &evidence.tree_heads {
        push(&Line::TreeHead(t.clone()));
    }
    if evidence.hq_seen > 0 {
        push(&Line::HqSeen { after: evidence.hq_seen });
    }
    push(&Line::End { size: entries.len() as u64, head: hex::encode(head) });
    out
}

mod erased {
    pub trait Json {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Vec<u8> {
            // Plain structs and enums: serializing cannot fail.
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// Reads and checks a backup: format, sequence, chain, end line.
pub fn decode(text: &str) -> Result<Backup, BackupError> {
    let mut lines = text.lines().enumerate();
    let bad = |line: usize, reason: String| BackupError::Line { line: line + 1, reason };
    let (_, first) = lines.next().ok_or(BackupError::Truncated)?;
    let header: Header = serde_json::from_str(first).map_err(|e| bad(0, format!("not a backup header: {e}")))?;
    if header.format != FORMAT && header.format != FORMAT_2 {
        return Err(bad(0, format!("unknown format '{}' (this program reads {FORMAT} and {FORMAT_2})", header.format)));
    }
    let with_evidence = header.format == FORMAT_2;
    let (mut entries, mut checkpoints) = (Vec::new(), Vec::new());
    let mut evidence = HqEvidence::default();
    let mut head = GENESIS;
    for (i, l) in lines {
        match serde_json::from_str::<Line>(l).map_err(|e| bad(i, e.to_string()))? {
            Line::Entry { seq, entry } => {
                if seq != entries.len() as u64 + 1 || !checkpoints.is_empty() {
                    return Err(bad(i, format!("entry {seq} is out of order")));
                }
                head = chain_hash(&head, entry.as_bytes());
                entries.push((seq, entry.into_bytes()));
            }
            Line::Checkpoint(c) => checkpoints.push(c),
            Line::HqEntry(_) | Line::HqKey { .. } | Line::TreeHead(_) | Line::HqSeen { .. } if !with_evidence => {
                return Err(bad(i, format!("a {FORMAT} file holds no evidence about HQ")));
            }
            Line::HqEntry(e) => evidence.hq_entries.push(e),
            Line::HqKey { public_key, role } => match role.as_str() {
                "root" => evidence.root_key = Some(public_key),
                "hq" => evidence.hq_keys.push(public_key),
                other => return Err(bad(i, format!("unknown HQ key role '{other}'"))),
            },
            Line::TreeHead(t) => evidence.tree_heads.push(t),
            Line::HqSeen { after } => evidence.hq_seen = after,
            Line::End { size, head: h } => {
                if size != entries.len() as u64 || h != hex::encode(head) {
                    return Err(BackupError::Mismatch { expected: size, expected_head: h, found: entries.len() as u64, found_head: hex::encode(head) });
                }
                return Ok(Backup { header, entries, checkpoints, head, evidence });
            }
        }
    }
    Err(BackupError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_round_trips_and_any_damage_is_refused() {
        let header = Header { format: FORMAT.into(), journal: "store".into(), id: "s1".into(), public_key: "00".into(), created_ms: 1 };
        let entries: Vec<(u64, Vec<u8>)> = (1..=5).map(|i| (i, format!("{{\"n\":{i}}}").into_bytes())).collect();
        let cps = vec![SignedCheckpoint { size: 5, head: "ab".into(), signature: "cd".into(), hq_signature: None }];
        let text = String::from_utf8(encode(&header, &entries, &cps)).unwrap();
        let b = decode(&text).unwrap();
        assert_eq!((b.entries, b.checkpoints, b.evidence.is_empty()), (entries.clone(), cps.clone(), true));
        assert!(text.starts_with(&format!("{{\"format\":\"{FORMAT}\"")), "no evidence: format 1, as older releases wrote");

        // With evidence about HQ: format 2, read back whole.
        let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let evidence = HqEvidence {
            hq_entries: vec![HqEntryCopy { hq_seq: 1, entry: "{}".into(), signature: "00".into() }],
            hq_keys: vec!["aa".into(), "bb".into()],
            root_key: Some("cc".into()),
            tree_heads: vec![crate::tree::TreeHead::sign("hq", 1, &[("s1".into(), 5, [1; 32])], &key)],
            hq_seen: 9,
        };
        let text2 = String::from_utf8(encode_with(&header, &entries, &cps, &evidence)).unwrap();
        let b2 = decode(&text2).unwrap();
        assert_eq!((b2.header.format.as_str(), &b2.evidence), (FORMAT_2, &evidence));
        // Evidence lines in a format-1 file are refused, not ignored.
        let mislabelled = text2.replacen(FORMAT_2, FORMAT, 1);
        assert!(decode(&mislabelled).unwrap_err().to_string().contains("no evidence"));

        assert!(decode(&text.replace("{\\\"n\\\":3}", "{\\\"n\\\":4}")).unwrap_err().to_string().contains("end line"));
        let truncated: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert_eq!(decode(&truncated), Err(BackupError::Truncated));
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(2, 3);
        assert!(matches!(decode(&lines.join("\n")), Err(BackupError::Line { line: 3, .. })));
    }
}
