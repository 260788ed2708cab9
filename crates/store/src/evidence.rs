//! What the store holds to vouch for head office: the part of HQ's journal addressed to it,
//! every HQ key it has trusted and HQ's root key, and the latest tree heads HQ signed over
//! every store's head. With these, HQ can be rebuilt from its stores alone and a rewritten
//! history of any store is caught by the others. Checking HQ's signatures is the caller's
//! (`stockade-sync`); this module keeps what was checked.

use crate::error::StoreError;
use crate::node::Store;
use ed25519_dalek::VerifyingKey;
use rusqlite::{params, Connection, OptionalExtension};
use stockade_journal::backup::{HqEntryCopy, HqEvidence};
use stockade_journal::tree::TreeHead;

/// Tree heads kept: the latest ones (by HQ's time), and the first of each day for
/// [`KEEP_DAILY_TREE_HEADS`] days, so a rewritten history is caught however old the entry.
pub const KEEP_TREE_HEADS: i64 = 64;
pub const KEEP_DAILY_TREE_HEADS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// Whether `conn` has the evidence tables (schema 4 on; verify reads older files too).
fn has_evidence(conn: &Connection, schema: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(&format!("SELECT EXISTS(SELECT 1 FROM {schema}.sqlite_master WHERE name = 'hq_keys')"), [], |r| r.get(0))?)
}

/// The HQ keys whose co-signatures the store accepts: every HQ key it has trusted (old
/// co-signatures stay checked against the key that made them) and the one in force.
pub fn trusted_hq_keys_in(conn: &Connection, schema: &str) -> Result<Vec<VerifyingKey>, StoreError> {
    let mut hexes: Vec<String> = Vec::new();
    if has_evidence(conn, schema)? {
        let mut st = conn.prepare(&format!("SELECT public_key FROM {schema}.hq_keys WHERE role = 'hq' ORDER BY ord"))?;
        hexes.extend(st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?);
    }
    let current: Option<String> = conn.query_row(&format!("SELECT hq_public_key FROM {schema}.sync WHERE id = 1"), [], |r| r.get(0)).optional()?;
    // The key in force last.
    if let Some(c) = current {
        hexes.retain(|h| *h != c);
        hexes.push(c);
    }
    let mut keys: Vec<VerifyingKey> = Vec::new();
    for h in hexes {
        if let Some(k) = stockade_journal::verifying_key_from_hex(&h) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

/// The store enrols with an HQ: what it held of another HQ (its journal copy, keys, root, tree
/// heads, cursor) no longer applies.
pub(crate) fn enrolled_with(c: &Connection, hq_id: &str, key: &str) -> Result<(), StoreError> {
    let same: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM sync WHERE id = 1 AND hq_id = ?1)", params![hq_id], |r| r.get(0))?;
    if !same {
        c.execute_batch("DELETE FROM hq_copy; DELETE FROM hq_keys; DELETE FROM tree_heads;")?;
    }
    trust_hq_key(c, key, 0)?;
    Ok(())
}

/// Adds `key` to the store's history of HQ keys (kept, never removed: old co-signatures are
/// checked against the key that made them).
pub(crate) fn trust_hq_key(c: &Connection, key: &str, now_ms: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR IGNORE INTO hq_keys (public_key, role, ord, since_ms) VALUES (?1, 'hq', (SELECT COALESCE(MAX(ord), 0) + 1 FROM hq_keys), ?2)",
        params![key, now_ms],
    )?;
    Ok(())
}

/// What the store trusts of HQ: its keys (oldest first) and its root key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HqTrust {
    /// Oldest first; the last is the key in force.
    pub keys: Vec<VerifyingKey>,
    pub root: Option<VerifyingKey>,
    /// Where the store's next read of HQ's journal starts.
    pub after: u64,
    /// The first entry of the latest HQ rebuild the store has seen (0: none).
    pub rebuilt_at: u64,
}

impl Store {
    pub fn hq_trust(&self) -> Result<HqTrust, StoreError> {
        self.read(|c| {
            let keys = trusted_hq_keys_in(c, "main")?;
            let root: Option<String> = c.query_row("SELECT public_key FROM hq_keys WHERE role = 'root'", [], |r| r.get(0)).optional()?;
            let (after, rebuilt_at): (i64, i64) =
                c.query_row("SELECT hq_copy_after, hq_rebuilt_at FROM sync WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).optional()?.unwrap_or((0, 0));
            Ok(HqTrust { keys, root: root.and_then(|r| stockade_journal::verifying_key_from_hex(&r)), after: after as u64, rebuilt_at: rebuilt_at as u64 })
        })
    }

    /// Keeps HQ entries the caller verified, the keys they introduced (`new_keys`: a rotated
    /// HQ key, which becomes the one in force; `root`: HQ's root key, kept only if none is
    /// known) and moves the read cursor to `next_after` — in one transaction.
    pub async fn record_hq_copy(&self, entries: Vec<HqEntryCopy>, new_keys: Vec<String>, root: Option<String>, next_after: u64) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        self.write(move |tx| {
            let c = tx.conn();
            for e in &entries {
                c.execute(
                    "INSERT OR IGNORE INTO hq_copy (hq_seq, entry, signature, received_at) VALUES (?1, ?2, ?3, ?4)",
                    params![e.hq_seq as i64, e.entry.as_bytes(), e.signature, now],
                )?;
            }
            for k in &new_keys {
                trust_hq_key(c, k, now)?;
                c.execute("UPDATE sync SET hq_public_key = ?1 WHERE id = 1", params![k])?;
            }
            if let Some(r) = &root {
                let known: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM hq_keys WHERE role = 'root')", [], |r| r.get(0))?;
                if !known {
                    c.execute("INSERT INTO hq_keys (public_key, role, ord, since_ms) VALUES (?1, 'root', 0, ?2)", params![r, now])?;
                }
            }
            c.execute("UPDATE sync SET hq_copy_after = MAX(hq_copy_after, ?1) WHERE id = 1", params![next_after as i64])?;
            Ok(())
        })
        .await
    }

    /// HQ was rebuilt from its stores and its new entries start at `rebuilt_at`: what the store
    /// holds from there on was the old journal's (numbers the rebuilt HQ uses again), so it is
    /// dropped and the store reads on from there.
    pub async fn hq_rebuilt(&self, rebuilt_at: u64) -> Result<(), StoreError> {
        let at = i64::try_from(rebuilt_at).map_err(|_| StoreError::Corrupt(format!("HQ says it was rebuilt at entry {rebuilt_at}: out of range")))?;
        self.write(move |tx| {
            let c = tx.conn();
            c.execute("DELETE FROM hq_copy WHERE hq_seq >= ?1", params![at])?;
            c.execute("UPDATE sync SET hq_copy_after = MIN(hq_copy_after, ?1 - 1), hq_rebuilt_at = ?1 WHERE id = 1", params![at])?;
            Ok(())
        })
        .await
    }

    /// Keeps a tree head the caller verified (see [`KEEP_TREE_HEADS`] for which ones stay).
    pub async fn record_tree_head(&self, th: TreeHead) -> Result<(), StoreError> {
        let body = serde_json::to_string(&th).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(move |tx| {
            let c = tx.conn();
            c.execute("INSERT OR IGNORE INTO tree_heads (root, at_ms, body) VALUES (?1, ?2, ?3)", params![th.root, th.at_ms, body])?;
            c.execute(
                "DELETE FROM tree_heads WHERE root NOT IN (SELECT root FROM tree_heads ORDER BY at_ms DESC, root LIMIT ?1)
                   AND (at_ms < ?2 OR at_ms <> (SELECT MIN(u.at_ms) FROM tree_heads u WHERE u.at_ms / ?3 = tree_heads.at_ms / ?3))",
                params![KEEP_TREE_HEADS, th.at_ms - KEEP_DAILY_TREE_HEADS * DAY_MS, DAY_MS],
            )?;
            Ok(())
        })
        .await
    }

    /// Everything the store holds about HQ, for backups and for an HQ rebuilding itself.
    pub fn hq_evidence(&self) -> Result<HqEvidence, StoreError> {
        self.read(evidence_in)
    }
}

pub(crate) fn evidence_in(c: &Connection) -> Result<HqEvidence, StoreError> {
    if !has_evidence(c, "main")? {
        return Ok(HqEvidence::default());
    }
    let mut ev = HqEvidence::default();
    let mut st = c.prepare("SELECT hq_seq, entry, signature FROM hq_copy ORDER BY hq_seq")?;
    for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?)))? {
        let (seq, entry, signature) = row?;
        let entry = String::from_utf8(entry).map_err(|_| StoreError::Corrupt(format!("HQ entry {seq} held by the store is not UTF-8")))?;
        ev.hq_entries.push(HqEntryCopy { hq_seq: seq as u64, entry, signature });
    }
    let mut st = c.prepare("SELECT public_key, role FROM hq_keys ORDER BY ord")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (k, role) = row?;
        if role == "root" {
            ev.root_key = Some(k);
        } else {
            ev.hq_keys.push(k);
        }
    }
    let mut st = c.prepare("SELECT body FROM tree_heads ORDER BY at_ms, root")?;
    for body in st.query_map([], |r| r.get::<_, String>(0))? {
        // A row that does not parse is left out; every tree head is checked again by its reader.
        if let Ok(th) = serde_json::from_str::<TreeHead>(&body?) {
            ev.tree_heads.push(th);
        }
    }
    let after: Option<i64> = c.query_row("SELECT hq_copy_after FROM sync WHERE id = 1", [], |r| r.get(0)).optional()?;
    ev.hq_seen = after.unwrap_or(0) as u64;
    Ok(ev)
}
