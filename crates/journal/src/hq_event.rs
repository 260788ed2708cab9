//! Head office's own journal: the registry of retailers and stores (and, later, catalog and
//! price publications). Same chain and checkpoint rules as a store's journal, signed by HQ's key.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HqEnvelope {
    pub v: u32,
    pub hq: String,
    pub seq: u64,
    pub at_ms: i64,
    pub actor: String,
    pub event: HqEvent,
}

impl HqEnvelope {
    /// The bytes of a new entry. Fails only for [`HqEvent::Unknown`], which is never written.
    pub fn encode(&self) -> Result<Vec<u8>, crate::EncodeError> {
        crate::encode_known(self, self.event.kind(), matches!(self.event, HqEvent::Unknown(_)))
    }
    /// Reads stored bytes; a kind this release does not know becomes [`HqEvent::Unknown`].
    pub fn decode(bytes: &[u8]) -> Result<HqEnvelope, serde_json::Error> {
        crate::decode_or_unknown(bytes, crate::Origin::Hq, HqEvent::KINDS, |h| HqEnvelope {
            v: h.v,
            hq: h.origin,
            seq: h.seq,
            at_ms: h.at_ms,
            actor: h.actor,
            event: HqEvent::Unknown(crate::UnknownKind { kind: h.event.kind }),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HqEvent {
    HqInitialized {
        hq_id: String,
        name: String,
        public_key: String,
    },
    RetailerAdded {
        retailer_id: String,
        name: String,
    },
    /// A store's public key registered under a retailer, with the hash of its one-time
    /// enrolment code (never the code).
    StoreRegistered {
        retailer_id: String,
        public_key: String,
        name: String,
        code_hash: String,
    },
    /// The store holding that key presented the code and named its store id.
    StoreEnrolled {
        retailer_id: String,
        public_key: String,
        store_id: String,
    },
    /// Catalog and price updates for every store of a retailer, numbered per retailer so a
    /// store sees any update withheld from it.
    CatalogPublished {
        retailer_id: String,
        retailer_seq: u64,
        products: Vec<crate::payload::ProductFacts>,
    },
    /// A head-office account and its role (admin, analyst, owner, auditor); an owner belongs to
    /// one retailer. Its token is not journaled, only the account.
    UserGranted {
        user_id: String,
        name: String,
        role: String,
        retailer_id: Option<String>,
    },
    UserRevoked {
        user_id: String,
    },
    /// Whether a retailer's agreement lets the wholesaler's analysts see its sales store by store.
    SharingSet {
        retailer_id: String,
        store_level: bool,
    },
    /// A purchase order approved at head office for one store, from replenishment proposals.
    /// Numbered per store (`store_seq`) so the store sees any order withheld from it; the store
    /// closes it by receiving stock with the order's id as the receipt's document.
    PurchaseOrderIssued {
        retailer_id: String,
        store_id: String,
        store_seq: u64,
        po_id: String,
        /// The HQ user who approved it.
        approved_by: String,
        lines: Vec<PurchaseOrderLine>,
    },
    /// HQ's offline root key, created at `hq init` and kept off HQ's machines: the only key
    /// that can name a new HQ key when HQ's own is lost. A store keeps the first one it is told
    /// of (from an entry signed by the HQ key it trusts) and never replaces it.
    HqRootKeySet {
        root_public_key: String,
    },
    /// HQ's key replaced (it was lost or retired). Everything the old key signed stays valid as
    /// history; `root_signature` is the root key's signature of [`rotation_message`].
    HqKeyRotated {
        old_public_key: String,
        new_public_key: String,
        root_signature: String,
    },
    /// HQ was rebuilt from what `stores` of its stores hold (no HQ backup): `recovered` entries
    /// came back byte for byte, `lost` ones no store held are [`HqEvent::EntryLost`] at their
    /// number. Every entry after it is new.
    HqRebuilt {
        stores: u64,
        recovered: u64,
        lost: u64,
    },
    /// In a journal rebuilt from the stores, an entry no store held (HQ staff accounts, another
    /// retailer's registry): its number is kept so every later entry keeps its own.
    EntryLost {},
    /// An entry of a kind this release does not know (see [`crate::event::Event::Unknown`]).
    #[serde(skip)]
    Unknown(crate::UnknownKind),
}

/// What HQ's root key signs to name a new HQ key.
pub fn rotation_message(hq_id: &str, old_public_key: &str, new_public_key: &str) -> Vec<u8> {
    format!("stockade-hq-rotation/v1\n{hq_id}\n{old_public_key}\n{new_public_key}\n").into_bytes()
}

/// One product of a purchase order: the store's own product id, its SKU, and whole units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderLine {
    pub product_id: String,
    pub sku: String,
    pub units: i64,
}

impl HqEvent {
    /// Every kind this release reads and writes.
    pub const KINDS: &'static [&'static str] = &[
        "hq_initialized",
        "retailer_added",
        "store_registered",
        "store_enrolled",
        "catalog_published",
        "user_granted",
        "user_revoked",
        "sharing_set",
        "purchase_order_issued",
        "hq_root_key_set",
        "hq_key_rotated",
        "hq_rebuilt",
        "entry_lost",
    ];

    pub fn kind(&self) -> &str {
        match self {
            HqEvent::HqInitialized { .. } => "hq_initialized",
            HqEvent::RetailerAdded { .. } => "retailer_added",
            HqEvent::StoreRegistered { .. } => "store_registered",
            HqEvent::StoreEnrolled { .. } => "store_enrolled",
            HqEvent::CatalogPublished { .. } => "catalog_published",
            HqEvent::UserGranted { .. } => "user_granted",
            HqEvent::UserRevoked { .. } => "user_revoked",
            HqEvent::SharingSet { .. } => "sharing_set",
            HqEvent::PurchaseOrderIssued { .. } => "purchase_order_issued",
            HqEvent::HqRootKeySet { .. } => "hq_root_key_set",
            HqEvent::HqKeyRotated { .. } => "hq_key_rotated",
            HqEvent::HqRebuilt { .. } => "hq_rebuilt",
            HqEvent::EntryLost {} => "entry_lost",
            HqEvent::Unknown(u) => &u.kind,
        }
    }
}

/// What HQ signs for each journal entry it hands to a store: its number and a hash of its bytes.
pub fn entry_message(seq: u64, bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    format!("stockade-hq-entry/v1\n{seq}\n{}\n", hex::encode(sha2::Sha256::digest(bytes))).into_bytes()
}
