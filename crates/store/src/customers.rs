//! Customer records (for online orders and delivery): names, dates of birth and contact
//! details, sealed with XChaCha20-Poly1305 under the retailer's data key (`retailer.key`, shared
//! by a retailer's stores, 0600). Minimized: an ID number is kept only as the keyed hash the
//! purchase limits use. Never journaled (the journal is append-only and replicated), so a
//! record can be deleted for good: each expires after the configured retention and is purged.

use crate::error::StoreError;
use crate::node::Store;
use crate::Actor;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const RETAILER_KEY_FILE: &str = "retailer.key";
/// Days a customer record is kept unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 365;

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CustomerInput {
    #[schema(min_length = 1, max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub name: String,
    /// 1900 to 2100, and not after today.
    #[serde(default)]
    pub birth_date: Option<stockade_domain::bounds::BirthDate>,
    /// Kept only as a keyed hash (for per-customer limits), never as given.
    #[serde(default)]
    #[schema(pattern = r"^[^A-Za-z0-9]{0,10}([A-Za-z0-9][^A-Za-z0-9]{0,3}){4,40}$")]
    pub id_number: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 40, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 20, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub postal_code: Option<String>,
}

/// What is sealed: the record minus the ID number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CustomerRecord {
    pub customer_id: String,
    pub name: String,
    pub birth_date: Option<chrono::NaiveDate>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub postal_code: Option<String>,
    /// UTC milliseconds.
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Reads the retailer's data key, or makes one (a store with no retailer key yet).
pub fn load_or_create_key(dir: &Path) -> Result<[u8; 32], StoreError> {
    let path = dir.join(RETAILER_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_key(&text).ok_or_else(|| StoreError::Io(format!("{} is not 64 hex digits", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            write_key(&path, &key)?;
            Ok(key)
        }
        Err(e) => Err(StoreError::Io(format!("cannot read {}: {e}", path.display()))),
    }
}

pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

/// Writes a retailer key file readable by its owner only.
pub fn write_key(path: &Path, key: &[u8; 32]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| StoreError::Io(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(hex::encode(key).as_bytes()).and_then(|_| f.sync_all()).map_err(|e| StoreError::Io(format!("cannot write {}: {e}", path.display())))
}

/// A sealed record and its keyed ID hash, not yet stored.
pub(crate) struct SealedCustomer {
    pub customer_id: String,
    pub id_hash: Option<String>,
    sealed: Vec<u8>,
    created_at_ms: i64,
    expires_at_ms: i64,
}

impl SealedCustomer {
    pub(crate) fn insert(&self, conn: &rusqlite::Connection) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO customers (customer_id, id_hash, sealed, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.customer_id, self.id_hash, self.sealed, self.created_at_ms, self.expires_at_ms],
        )?;
        Ok(())
    }
}

fn check(field: &'static str, value: &Option<String>, max: usize) -> Result<(), StoreError> {
    match value {
        Some(v) if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) => {
            // The message names the field, never the value.
            Err(StoreError::invalid("invalid_customer", format!("{field} is 1 to {max} printable characters")))
        }
        _ => Ok(()),
    }
}

impl Store {
    fn seal(&self, customer_id: &str, rec: &CustomerRecord) -> Result<Vec<u8>, StoreError> {
        let cipher = XChaCha20Poly1305::new(self.retailer_key().into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let plain = serde_json::to_vec(rec).map_err(|e| StoreError::Io(e.to_string()))?;
        let aad = format!("{}/{customer_id}", self.info().store_id);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: aad.as_bytes() })
            .map_err(|_| StoreError::Io("cannot seal a customer record".into()))?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    fn open_sealed(&self, customer_id: &str, sealed: &[u8]) -> Result<CustomerRecord, StoreError> {
        if sealed.len() < 24 {
            return Err(StoreError::Corrupt(format!("customer {customer_id}: sealed record too short")));
        }
        let cipher = XChaCha20Poly1305::new(self.retailer_key().into());
        let aad = format!("{}/{customer_id}", self.info().store_id);
        let plain = cipher
            .decrypt(XNonce::from_slice(&sealed[..24]), Payload { msg: &sealed[24..], aad: aad.as_bytes() })
            .map_err(|_| StoreError::Corrupt(format!("customer {customer_id}: the record does not open with this retailer's key")))?;
        serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt(format!("customer {customer_id}: unreadable record")))
    }

    /// Checks and seals a customer record, ready to insert in a write transaction.
    pub(crate) fn prepare_customer(&self, input: CustomerInput) -> Result<SealedCustomer, StoreError> {
        if input.name.trim().is_empty() || input.name.chars().count() > 120 || input.name.chars().any(char::is_control) {
            return Err(StoreError::invalid("invalid_customer", "name is 1 to 120 printable characters"));
        }
        check("phone", &input.phone, 40)?;
        check("email", &input.email, 120)?;
        check("postal_code", &input.postal_code, 20)?;
        let today = chrono::DateTime::from_timestamp_millis(self.clock().now_ms()).map(|t| t.date_naive());
        if input.birth_date.zip(today).is_some_and(|(b, t)| b.date() > t) {
            return Err(StoreError::invalid("invalid_birth_date", "birth_date is in the future"));
        }
        let id_hash = match &input.id_number {
            Some(n) => Some(crate::commands::customer_hash(self.customer_key(), n)?),
            None => None,
        };
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let customer_id = hex::encode(raw);
        let now = self.clock().now_ms();
        let rec = CustomerRecord {
            customer_id: customer_id.clone(),
            name: input.name.trim().to_string(),
            birth_date: input.birth_date.map(|b| b.date()),
            phone: input.phone,
            email: input.email,
            postal_code: input.postal_code,
            created_at_ms: now,
            expires_at_ms: now + self.retention_days() * 86_400_000,
        };
        let sealed = self.seal(&customer_id, &rec)?;
        Ok(SealedCustomer { customer_id, id_hash, sealed, created_at_ms: now, expires_at_ms: rec.expires_at_ms })
    }

    /// Records a customer (any staff member); returns their id.
    pub async fn add_customer(&self, actor: &Actor, input: CustomerInput) -> Result<String, StoreError> {
        let c = self.prepare_customer(input)?;
        let id = c.customer_id.clone();
        self.write(move |tx| c.insert(tx.conn())).await?;
        tracing::info!(user_id = %actor.user_id, customer_id = %id, "customer recorded");
        Ok(id)
    }

    /// A customer's record, opened (managers).
    pub async fn customer(&self, actor: &Actor, customer_id: &str) -> Result<CustomerRecord, StoreError> {
        actor.require_manager()?;
        let id = customer_id.to_string();
        let sealed: Option<Vec<u8>> =
            self.read_async(move |c| Ok(c.query_row("SELECT sealed FROM customers WHERE customer_id = ?1", params![id], |r| r.get(0)).optional()?)).await?;
        let sealed = sealed.ok_or_else(|| StoreError::not_found("customer", customer_id))?;
        tracing::info!(user_id = %actor.user_id, customer_id = %customer_id, "customer record read");
        self.open_sealed(customer_id, &sealed)
    }

    /// Deletes every record past its retention; returns how many.
    pub async fn purge_expired_customers(&self) -> Result<u64, StoreError> {
        let n = self
            .write(|tx| {
                let now = tx.now_ms();
                Ok(tx.conn().execute("DELETE FROM customers WHERE expires_at <= ?1", params![now])? as u64)
            })
            .await?;
        if n > 0 {
            tracing::info!(purged = n, "expired customer records deleted");
        }
        Ok(n)
    }
}
