//! HQ's own trust: its offline root key, key rotation, the part of HQ's journal each store
//! holds to vouch for HQ (so HQ can be rebuilt from its stores alone), and the tree heads over
//! every store's head that HQ hands each store at every sync (witnessed history).

use crate::db::{Tx, Val};
use crate::{Hq, HqError, SignedPublication};
use ed25519_dalek::{Signer, SigningKey};
use std::path::Path;
use stockade_journal::hq_event::{rotation_message, HqEnvelope, HqEvent};
use stockade_journal::tree::TreeHead;

/// The root key file `hq init` writes beside `hq.key`. Move it off HQ's machines: it is needed
/// only to name a new HQ key when `hq.key` is lost.
pub const ROOT_KEY_FILE: &str = "hq-root.key";

/// HQ entries scanned per registry request (a store's cursor moves on even when none is for it).
pub const REGISTRY_SCAN: u64 = 2000;

/// Whether a store of `retailer` with id `store` holds (vouches for) an HQ journal entry.
/// `user_retailer` is the retailer of the account a `user_revoked` entry names (None for HQ
/// staff). Staff accounts, other retailers and other stores' orders stay at HQ.
pub fn vouched_by(event: &HqEvent, retailer: &str, store: &str, user_retailer: Option<&str>) -> bool {
    match event {
        HqEvent::HqInitialized { .. } | HqEvent::HqRootKeySet { .. } | HqEvent::HqKeyRotated { .. } | HqEvent::HqRebuilt { .. } => true,
        HqEvent::RetailerAdded { retailer_id, .. }
        | HqEvent::StoreRegistered { retailer_id, .. }
        | HqEvent::StoreEnrolled { retailer_id, .. }
        | HqEvent::CatalogPublished { retailer_id, .. }
        | HqEvent::SharingSet { retailer_id, .. } => retailer_id == retailer,
        HqEvent::UserGranted { retailer_id, .. } => retailer_id.as_deref() == Some(retailer),
        HqEvent::UserRevoked { .. } => user_retailer == Some(retailer),
        HqEvent::PurchaseOrderIssued { retailer_id, store_id, .. } => retailer_id == retailer && store_id == store,
        HqEvent::EntryLost {} | HqEvent::Unknown(_) => false,
    }
}

/// The HQ key in force by the journal: the first entry's, or the last rotation's new key.
pub(crate) fn current_key_in(tx: &mut dyn Tx) -> Result<(String, String), HqError> {
    let first = tx.one("SELECT bytes FROM hq_journal WHERE seq = 1", &[])?;
    let env = first
        .and_then(|r| r[0].b().map(HqEnvelope::decode))
        .ok_or_else(|| HqError::Io("this database holds no HQ: run `stockade hq init` first".into()))?
        .map_err(|e| HqError::Corrupt(format!("HQ journal entry 1 is unreadable: {e}")))?;
    let HqEvent::HqInitialized { hq_id, public_key, .. } = env.event else {
        return Err(HqError::Corrupt("HQ journal entry 1 is not the initialization".into()));
    };
    let rotated = tx.one("SELECT seq, bytes FROM hq_journal WHERE kind = 'hq_key_rotated' ORDER BY seq DESC LIMIT 1", &[])?;
    let current = match rotated.and_then(|r| r[1].b().map(HqEnvelope::decode)) {
        Some(Ok(HqEnvelope { event: HqEvent::HqKeyRotated { new_public_key, .. }, .. })) => new_public_key,
        Some(_) => return Err(HqError::Corrupt("HQ's last key rotation is unreadable".into())),
        None => public_key,
    };
    Ok((hq_id, current))
}

/// The root key HQ's journal names, if any.
pub(crate) fn root_key_in(tx: &mut dyn Tx) -> Result<Option<String>, HqError> {
    let row = tx.one("SELECT bytes FROM hq_journal WHERE kind = 'hq_root_key_set' ORDER BY seq LIMIT 1", &[])?;
    Ok(match row.and_then(|r| r[0].b().map(HqEnvelope::decode)) {
        Some(Ok(HqEnvelope { event: HqEvent::HqRootKeySet { root_public_key }, .. })) => Some(root_public_key),
        Some(_) => return Err(HqError::Corrupt("HQ's root key entry is unreadable".into())),
        None => None,
    })
}

/// A new root key written to `path` (mode 0600, never overwriting): its public half.
pub(crate) fn new_root_key(path: &Path) -> Result<String, HqError> {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = SigningKey::from_bytes(&seed);
    stockade_journal::keyfile::write(path, &key).map_err(|e| HqError::Io(e.to_string()))?;
    Ok(hex::encode(key.verifying_key().to_bytes()))
}

/// The rotation statement naming `new` in place of `old`, signed with the root key.
pub fn sign_rotation(root: &SigningKey, hq_id: &str, old: &str, new: &str) -> String {
    hex::encode(root.sign(&rotation_message(hq_id, old, new)).to_bytes())
}

impl Hq {
    /// The root key HQ's journal names (its public half), if one was set.
    pub fn root_key(&self) -> Result<Option<String>, HqError> {
        self.db().tx(root_key_in)
    }

    /// For an HQ created before root keys: writes a root key to `path` and records it in HQ's
    /// journal (stores learn it at their next sync). Refused when HQ already has one.
    pub fn set_root_key(&self, path: &Path) -> Result<String, HqError> {
        if let Some(k) = self.root_key()? {
            return Err(HqError::Conflict { code: "root_key_set", message: format!("HQ already has a root key ({k})"), hq_size: None });
        }
        let root_public_key = new_root_key(path)?;
        self.append_hq("operator", vec![HqEvent::HqRootKeySet { root_public_key: root_public_key.clone() }])?;
        Ok(root_public_key)
    }

    /// The entries of HQ's journal after `after` that the store holding `public_key` vouches
    /// for, each signed by HQ, where its next request starts, and where HQ's latest rebuild
    /// from its stores started its new entries.
    pub fn registry_for(&self, public_key: &str, after: u64) -> Result<(Vec<SignedPublication>, u64, Option<u64>), HqError> {
        let (rows, next, rebuilt_at) = self.db().tx(|tx| {
            let me = tx.one("SELECT retailer_id, store_id FROM stores WHERE public_key = $1 AND store_id <> ''", &[public_key.into()])?;
            let (retailer, store) = match me.as_ref().map(|r| (r[0].t(), r[1].t())) {
                Some((Some(r), Some(s))) => (r.to_string(), s.to_string()),
                _ => return Err(HqError::NotFound { what: "store", id: public_key.into() }),
            };
            let rows = tx.query("SELECT seq, bytes FROM hq_journal WHERE seq > $1 ORDER BY seq LIMIT $2", &[after.into(), REGISTRY_SCAN.into()])?;
            let mut next = after;
            let mut kept = Vec::new();
            for r in rows {
                let (Some(seq), Some(bytes)) = (r[0].i(), r[1].b()) else { continue };
                next = seq as u64;
                let env = HqEnvelope::decode(bytes).map_err(|e| HqError::Corrupt(format!("HQ journal entry {seq} is unreadable: {e}")))?;
                let user_retailer = match &env.event {
                    HqEvent::UserRevoked { user_id } => {
                        tx.one("SELECT retailer_id FROM hq_users WHERE user_id = $1", &[user_id.into()])?.and_then(|u| u[0].t().map(str::to_string))
                    }
                    _ => None,
                };
                if vouched_by(&env.event, &retailer, &store, user_retailer.as_deref()) {
                    kept.push(vec![Val::I(seq), Val::I(0), Val::B(bytes.to_vec())]);
                }
            }
            Ok::<_, HqError>((kept, next, self.rebuilt_at()))
        })?;
        Ok((self.sign_entries(rows), next, rebuilt_at))
    }

    /// HQ's signed tree head over every store's head as HQ holds it now.
    pub fn tree_head(&self) -> Result<TreeHead, HqError> {
        let rows = self.db().tx(|tx| tx.query("SELECT store_id, size, head FROM store_heads ORDER BY store_id", &[]))?;
        let heads: Vec<(String, u64, stockade_journal::Hash)> =
            rows.into_iter().filter_map(|r| Some((r[0].t()?.to_string(), r[1].i()? as u64, r[2].b().and_then(|b| b.try_into().ok())?))).collect();
        Ok(TreeHead::sign(self.hq_id(), self.now_ms(), &heads, self.signing_key()))
    }
}
