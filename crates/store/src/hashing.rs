//! Password and PIN hashing in a fixed pool of slots, each owning its Argon2id memory.
//!
//! Argon2id (OWASP: m = 19 MiB, t = 2, p = 1) needs 19 MiB per hash. Allocated per hash, a
//! burst of sign-ins grew the store to 1.5–2 GB that it never gave back (the C allocator keeps
//! freed blocks that large once it has seen a few). So the store hashes in at most
//! [`hashing_slots`] slots at a time, two per core, and each slot allocates its memory once
//! and reuses it: the hashing memory of the process is bounded by slots × 19 MiB, whatever
//! arrives. A sign-in that finds every slot taken is answered `Busy` at once instead of
//! queueing, which also leaves the register's sales their cores.
//!
//! Hashes are standard PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`), interchangeable
//! with the `argon2` crate's own `PasswordHasher`/`PasswordVerifier`.

use crate::error::StoreError;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Mutex, OnceLock};

/// Argon2id memory per hash, KiB (OWASP).
pub const MEMORY_KIB: u32 = 19 * 1024;
const TIME_COST: u32 = 2;
const OUTPUT_LEN: usize = 32;

pub fn params() -> Result<Params, StoreError> {
    Params::new(MEMORY_KIB, TIME_COST, 1, Some(OUTPUT_LEN)).map_err(|e| StoreError::Io(e.to_string()))
}

/// Hashes that may run at once in this process: two per core.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2
}

struct Pool {
    /// Slots handed out so far (each allocated its memory once).
    made: usize,
    free: Vec<Vec<Block>>,
}

static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();

fn pool() -> &'static Mutex<Pool> {
    POOL.get_or_init(|| Mutex::new(Pool { made: 0, free: Vec::new() }))
}

/// One hashing slot: its memory goes back to the pool when dropped.
pub struct Slot {
    blocks: Vec<Block>,
}

/// A free slot, or `Busy` when all [`hashing_slots`] are in use.
pub fn slot() -> Result<Slot, StoreError> {
    let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(blocks) = p.free.pop() {
        return Ok(Slot { blocks });
    }
    if p.made >= hashing_slots() {
        return Err(StoreError::Busy);
    }
    // Counted only once nothing can fail any more, so an error never leaks a slot.
    let count = params()?.block_count();
    p.made += 1;
    drop(p);
    Ok(Slot { blocks: vec![Block::default(); count] })
}

/// How much lower than everything else a hashing thread runs (Unix nice value): under load the
/// register's sales go first, and a hash still finishes.
pub const NICENESS: i32 = 10;

/// Runs `f` (a hash) on a thread of its own at [`NICENESS`], so a burst of sign-ins cannot take
/// the CPU from sales; the async threads only wait for the answer.
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("stockade-hash".into())
        .spawn(move || {
            // Linux keeps a nice value per thread: this lowers only this one.
            #[cfg(unix)]
            let _ = rustix::process::nice(NICENESS);
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Io(format!("cannot start a hashing thread: {e}")))?;
    rx.await.map_err(|_| StoreError::Io("the hashing thread stopped".into()))
}

/// A slot for work that is not a stranger's request (creating a store, the CLI): waits for one
/// to free up, for up to a minute, instead of answering `Busy`.
pub fn slot_waiting() -> Result<Slot, StoreError> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match slot() {
            Err(StoreError::Busy) if std::time::Instant::now() < until => std::thread::sleep(std::time::Duration::from_millis(20)),
            other => return other,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let blocks = std::mem::take(&mut self.blocks);
        let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
        if blocks.is_empty() {
            p.made = p.made.saturating_sub(1);
        } else {
            p.free.push(blocks);
        }
    }
}

impl Slot {
    /// A new PHC hash of `secret` with a fresh random salt.
    pub fn hash(&mut self, secret: &str) -> Result<String, StoreError> {
        let params = params()?;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(|e| StoreError::Io(e.to_string()))?;
        let mut out = [0u8; OUTPUT_LEN];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        argon.hash_password_into_with_memory(secret.as_bytes(), salt_bytes, &mut out, &mut self.blocks[..]).map_err(|e| StoreError::Io(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| StoreError::Io(e.to_string()))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| StoreError::Io(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Does `secret` match the PHC hash `stored`? Compared in constant time. A hash this slot
    /// cannot hold (more memory than ours, another algorithm, unreadable) never matches.
    pub fn verify(&mut self, secret: &str, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        let (Ok(params), Ok(algorithm)) = (Params::try_from(&parsed), Algorithm::try_from(parsed.algorithm)) else { return false };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::V0x13,
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
        let mut salt_buf = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
        let Some(blocks) = self.blocks.get_mut(..params.block_count()) else { return false };
        let mut out = vec![0u8; expected.len()];
        if Argon2::new(algorithm, version, params).hash_password_into_with_memory(secret.as_bytes(), salt_bytes, &mut out, blocks).is_err() {
            return false;
        }
        // `Output`'s equality is constant-time.
        Output::new(&out).is_ok_and(|o| o == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn slot_hashes_are_standard_argon2id_both_ways() {
        let mut slot = slot_waiting().unwrap();
        let ours = slot.hash("correct horse battery").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap());
        assert!(argon.verify_password(b"correct horse battery", &PasswordHash::new(&ours).unwrap()).is_ok());
        assert!(argon.verify_password(b"correct horse batterY", &PasswordHash::new(&ours).unwrap()).is_err());
        let theirs = argon.hash_password(b"s3cret pin", &SaltString::generate(&mut rand::rngs::OsRng)).unwrap().to_string();
        assert!(slot.verify("s3cret pin", &theirs));
        assert!(!slot.verify("s3cret pim", &theirs));
        // Reused memory gives the same answers.
        assert!(slot.verify("correct horse battery", &ours));
        for junk in ["", "$argon2id$", "not a hash", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "$scrypt$ln=4$c2FsdA$aGFzaA"] {
            assert!(!slot.verify("x", junk), "{junk}");
        }
    }

    #[test]
    fn there_are_never_more_slots_than_two_per_core_and_their_memory_is_reused() {
        let mut held = Vec::new();
        while let Ok(s) = slot() {
            held.push(s);
            assert!(held.len() <= hashing_slots(), "more slots than allowed");
        }
        assert!(!held.is_empty() && matches!(slot(), Err(StoreError::Busy)));
        let made = pool().lock().unwrap().made;
        assert_eq!(made, hashing_slots(), "every slot was handed out");
        held.clear();
        let again = slot_waiting().unwrap();
        assert_eq!(again.blocks.len(), params().unwrap().block_count());
        assert_eq!(pool().lock().unwrap().made, made, "a freed slot's memory is reused, not allocated again");
    }
}
