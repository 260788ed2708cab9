//! The backup file format: JSON lines that verify themselves. A header, every entry's exact
//! bytes in order, the signed checkpoints, and an end line with the size and head hash. Reading
//! recomputes the whole chain and checks the end line, so a truncated, reordered or edited file
//! is refused; checkpoint signatures are checked by whoever knows which key to trust.

use crate::{chain_hash, Hash, GENESIS};
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "stockade-backup/1";

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Entry { seq: u64, entry: String },
    Checkpoint(SignedCheckpoint),
    End { size: u64, head: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub header: Header,
    pub entries: Vec<(u64, Vec<u8>)>,
    pub checkpoints: Vec<SignedCheckpoint>,
    pub head: Hash,
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
    let mut out = Vec::new();
    let mut push = |v: &dyn erased::Json| {
        out.extend_from_slice(&v.json());
        out.push(b'\n');
    };
    push(header);
    let mut head = GENESIS;
    for (seq, bytes) in entries {
        head = chain_hash(&head, bytes);
        push(&Line::Entry { seq: *seq, entry: String::from_utf8_lossy(bytes).into_owned() });
    }
    for c in checkpoints {
        push(&Line::Checkpoint(c.clone()));
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
    if header.format != FORMAT {
        return Err(bad(0, format!("unknown format '{}' (this program reads {FORMAT})", header.format)));
    }
    let (mut entries, mut checkpoints) = (Vec::new(), Vec::new());
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
            Line::End { size, head: h } => {
                if size != entries.len() as u64 || h != hex::encode(head) {
                    return Err(BackupError::Mismatch { expected: size, expected_head: h, found: entries.len() as u64, found_head: hex::encode(head) });
                }
                return Ok(Backup { header, entries, checkpoints, head });
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
        assert_eq!((b.entries, b.checkpoints), (entries, cps));

        assert!(decode(&text.replace("{\\\"n\\\":3}", "{\\\"n\\\":4}")).unwrap_err().to_string().contains("end line"));
        let truncated: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert_eq!(decode(&truncated), Err(BackupError::Truncated));
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(2, 3);
        assert!(matches!(decode(&lines.join("\n")), Err(BackupError::Line { line: 3, .. })));
    }
}
