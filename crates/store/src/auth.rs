//! Staff accounts and sessions: Argon2id passwords (OWASP parameters), 256-bit session tokens
//! from the OS generator stored only as hashes, per-account lockout after repeated failures.

use crate::error::StoreError;
use crate::node::{Store, Tx};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use stockade_journal::event::Role;
use stockade_journal::Event;

pub const SESSION_IDLE_MS: i64 = 2 * 60 * 60 * 1000;
pub const SESSION_ABSOLUTE_MS: i64 = 14 * 60 * 60 * 1000;
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT_MS: i64 = 5 * 60 * 1000;
/// Wrong PINs in a row before the PIN is refused until a password sign-in.
pub const MAX_PIN_FAILURES: i64 = 5;

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Password hashes (Argon2id, 19 MiB each) run at most this many at a time per process: two
/// per core. A sign-in that finds every slot taken is answered `Busy` at once, so a burst of
/// sign-ins costs bounded memory and leaves the register's sales their cores.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2
}

static HASHING: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();

/// A hashing slot, or `Busy` when every one is taken.
fn hashing_slot() -> Result<tokio::sync::OwnedSemaphorePermit, StoreError> {
    HASHING.get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(hashing_slots()))).clone().try_acquire_owned().map_err(|_| StoreError::Busy)
}

/// Who is acting. Every command takes one; roles gate what it may do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = String)]
    pub role: Role,
}

impl Actor {
    pub fn require_manager(&self) -> Result<(), StoreError> {
        if self.role == Role::Manager {
            Ok(())
        } else {
            Err(StoreError::Forbidden)
        }
    }
}

fn argon2() -> Result<Argon2<'static>, StoreError> {
    // OWASP: Argon2id, m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| StoreError::Io(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()?.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| StoreError::Io(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    argon2().map(|a| a.verify_password(password.as_bytes(), &parsed).is_ok()).unwrap_or(false)
}

pub fn check_new_credentials(username: &str, password: &str) -> Result<(), StoreError> {
    let ok_name = (3..=32).contains(&username.len()) && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok_name {
        return Err(StoreError::invalid("invalid_username", "usernames are 3 to 32 characters: a-z, 0-9, '.', '_' or '-'"));
    }
    if password.chars().count() < 8 || password.len() > 128 {
        return Err(StoreError::invalid("weak_password", "passwords are 8 to 128 characters"));
    }
    Ok(())
}

/// PINs are 4 to 8 digits and not one digit repeated.
pub fn check_pin(pin: &str) -> Result<(), StoreError> {
    let digits = (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit());
    if !digits || pin.bytes().all(|b| Some(&b) == pin.as_bytes().first()) {
        return Err(StoreError::invalid("invalid_pin", "a PIN is 4 to 8 digits, not one digit repeated"));
    }
    Ok(())
}

pub(crate) fn add_staff_in_tx(tx: &mut Tx<'_>, actor: &str, username: &str, display: &str, role: Role, hash: &str) -> Result<String, StoreError> {
    let exists: bool = tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM staff WHERE username = ?1)", params![username], |r| r.get(0))?;
    if exists {
        return Err(StoreError::conflict("username_taken", format!("username '{username}' is taken")));
    }
    let user_id = tx.new_id();
    tx.append(actor, Event::StaffAdded { user_id: user_id.clone(), username: username.into(), display_name: display.into(), role })?;
    tx.conn().execute("INSERT INTO credentials (user_id, password_hash) VALUES (?1, ?2)", params![user_id, hash])?;
    Ok(user_id)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Store {
    /// Adds a staff account (managers only).
    pub async fn add_staff(&self, actor: &Actor, username: String, display_name: String, role: Role, password: String) -> Result<Actor, StoreError> {
        actor.require_manager()?;
        check_new_credentials(&username, &password)?;
        if display_name.trim().is_empty() || display_name.len() > 80 {
            return Err(StoreError::invalid("invalid_display_name", "a display name of 1 to 80 characters is required"));
        }
        let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|e| StoreError::Io(e.to_string()))??;
        let by = actor.user_id.clone();
        let (u, d) = (username.clone(), display_name.clone());
        let user_id = self.write(move |tx| add_staff_in_tx(tx, &by, &u, &d, role, &hash)).await?;
        Ok(Actor { user_id, username, display_name, role })
    }

    /// Checks a password and opens a session. Returns the bearer token (shown once, stored hashed).
    pub async fn login(&self, username: &str, password: &str) -> Result<(String, Actor), StoreError> {
        let name = username.to_string();
        let row = self
            .read_async(move |c| {
                Ok(c.query_row(
                    "SELECT s.user_id, s.username, s.display_name, s.role, s.active, c.password_hash, c.locked_until
                     FROM staff s JOIN credentials c ON c.user_id = s.user_id WHERE s.username = ?1",
                    params![name],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, bool>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    },
                )
                .optional()?)
            })
            .await?;
        let now = self.clock().now_ms();
        // Unknown users still pay for one hash, so timing does not reveal which usernames exist.
        let (user_id, uname, display, role, active, hash, locked_until) = match row {
            Some(r) => r,
            None => {
                let p = password.to_string();
                let slot = hashing_slot()?;
                let _ = tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    let dummy = DUMMY_HASH.get_or_init(|| hash_password("not a real password").unwrap_or_default());
                    verify_password(&p, dummy)
                })
                .await;
                // Not the name itself: it may be a password typed in the wrong box, or carry a
                // newline that forges a log line.
                tracing::warn!(username_chars = username.chars().count(), "login failed: unknown user");
                return Err(StoreError::Unauthorized);
            }
        };
        if locked_until > now {
            tracing::warn!(user_id = %user_id, "login refused: account locked");
            return Err(StoreError::Locked((locked_until - now + 999) / 1000));
        }
        let p = password.to_string();
        let slot = hashing_slot()?;
        let ok = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            verify_password(&p, &hash)
        })
        .await
        .map_err(|e| StoreError::Io(e.to_string()))?;
        let uid = user_id.clone();
        if !ok || !active {
            self.write(move |tx| {
                let now = tx.now_ms();
                tx.conn().execute(
                    "UPDATE credentials SET failed_logins = failed_logins + 1,
                        locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END,
                        failed_logins = CASE WHEN failed_logins + 1 >= ?2 THEN 0 ELSE failed_logins + 1 END
                     WHERE user_id = ?1",
                    params![uid, MAX_FAILED_LOGINS, now + LOCKOUT_MS],
                )?;
                Ok(())
            })
            .await?;
            tracing::warn!(user_id = %user_id, "login failed: wrong password or disabled account");
            return Err(StoreError::Unauthorized);
        }
        let token = self.open_session(&user_id, true).await?;
        tracing::info!(user_id = %user_id, "login");
        let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?;
        Ok((token, Actor { user_id, username: uname, display_name: display, role }))
    }

    /// Opens a session for `user_id` and clears its failed PIN count (so a password sign-in
    /// unlocks a locked PIN); a password sign-in also clears failed password attempts.
    async fn open_session(&self, user_id: &str, by_password: bool) -> Result<String, StoreError> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let th = token_hash(&token);
        let uid = user_id.to_string();
        self.write(move |tx| {
            let now = tx.now_ms();
            if by_password {
                tx.conn().execute("UPDATE credentials SET failed_logins = 0 WHERE user_id = ?1", params![uid])?;
            }
            tx.conn().execute("UPDATE pins SET failed = 0 WHERE user_id = ?1", params![uid])?;
            tx.conn().execute("DELETE FROM sessions WHERE expires_at < ?1", params![now])?;
            tx.conn().execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
                params![th, uid, now, now + SESSION_ABSOLUTE_MS],
            )?;
            Ok(())
        })
        .await?;
        Ok(token)
    }

    /// Sets the signed-in person's own quick-switch PIN; their password confirms it is them.
    pub async fn set_pin(&self, actor: &Actor, password: &str, pin: &str) -> Result<(), StoreError> {
        check_pin(pin)?;
        let uid = actor.user_id.clone();
        let hash: Option<String> = self
            .read_async(move |c| Ok(c.query_row("SELECT password_hash FROM credentials WHERE user_id = ?1", params![uid], |r| r.get(0)).optional()?))
            .await?;
        let hash = hash.ok_or(StoreError::Unauthorized)?;
        let (p, n) = (password.to_string(), pin.to_string());
        let pin_hash = tokio::task::spawn_blocking(move || if verify_password(&p, &hash) { hash_password(&n).map(Some) } else { Ok(None) })
            .await
            .map_err(|e| StoreError::Io(e.to_string()))??;
        let Some(pin_hash) = pin_hash else {
            tracing::warn!(user_id = %actor.user_id, "PIN change refused: wrong password");
            return Err(StoreError::invalid("wrong_password", "the password is not right; the PIN was not changed"));
        };
        let uid = actor.user_id.clone();
        self.write(move |tx| {
            tx.conn().execute(
                "INSERT INTO pins (user_id, pin_hash, failed) VALUES (?1, ?2, 0) ON CONFLICT(user_id) DO UPDATE SET pin_hash = excluded.pin_hash, failed = 0",
                params![uid, pin_hash],
            )?;
            Ok(())
        })
        .await?;
        tracing::info!(user_id = %actor.user_id, "PIN set");
        Ok(())
    }

    /// Quick switch at a shared till: username and PIN open a session. After
    /// [`MAX_PIN_FAILURES`] wrong PINs in a row the PIN is refused until a password sign-in.
    pub async fn pin_login(&self, username: &str, pin: &str) -> Result<(String, Actor), StoreError> {
        let name = username.to_string();
        let row = self
            .read_async(move |c| {
                Ok(c.query_row(
                    "SELECT s.user_id, s.username, s.display_name, s.role, p.pin_hash, p.failed
                     FROM staff s JOIN pins p ON p.user_id = s.user_id WHERE s.username = ?1 AND s.active = 1",
                    params![name],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()?)
            })
            .await?;
        let Some((user_id, uname, display, role, hash, failed)) = row else {
            let p = pin.to_string();
            let _ =
                tokio::task::spawn_blocking(move || verify_password(&p, DUMMY_HASH.get_or_init(|| hash_password("not a real pin").unwrap_or_default()))).await;
            tracing::warn!("PIN sign-in failed: no such user with a PIN");
            return Err(StoreError::Unauthorized);
        };
        if failed >= MAX_PIN_FAILURES {
            tracing::warn!(user_id = %user_id, "PIN sign-in refused: PIN locked");
            return Err(StoreError::PinLocked);
        }
        let p = pin.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&p, &hash)).await.map_err(|e| StoreError::Io(e.to_string()))?;
        if !ok {
            let uid = user_id.clone();
            self.write(move |tx| {
                tx.conn().execute("UPDATE pins SET failed = failed + 1 WHERE user_id = ?1", params![uid])?;
                Ok(())
            })
            .await?;
            tracing::warn!(user_id = %user_id, "PIN sign-in failed: wrong PIN");
            return Err(if failed + 1 >= MAX_PIN_FAILURES { StoreError::PinLocked } else { StoreError::Unauthorized });
        }
        let token = self.open_session(&user_id, false).await?;
        tracing::info!(user_id = %user_id, "PIN sign-in");
        let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?;
        Ok((token, Actor { user_id, username: uname, display_name: display, role }))
    }

    /// Active staff who have a quick-switch PIN, for the register's switch list.
    pub async fn staff_with_pins(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read_async(|c| {
            let mut st =
                c.prepare("SELECT s.username, s.display_name FROM staff s JOIN pins p ON p.user_id = s.user_id WHERE s.active = 1 ORDER BY s.display_name")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Resolves a bearer token to the acting staff member, enforcing idle and absolute expiry.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, StoreError> {
        if token.len() != 64 {
            return Err(StoreError::Unauthorized);
        }
        let th = token_hash(token);
        let now = self.clock().now_ms();
        let th2 = th.clone();
        let row = self
            .read_async(move |c| {
                Ok(c.query_row(
                    "SELECT s.user_id, s.username, s.display_name, s.role, x.last_seen_at, x.expires_at
                     FROM sessions x JOIN staff s ON s.user_id = x.user_id WHERE x.token_hash = ?1 AND s.active = 1",
                    params![th2],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()?)
            })
            .await?;
        let (user_id, username, display_name, role, last_seen, expires) = row.ok_or(StoreError::Unauthorized)?;
        if now > expires || now - last_seen > SESSION_IDLE_MS {
            return Err(StoreError::Unauthorized);
        }
        // Refresh idle time at most once a minute, so reads do not each cost a write.
        if now - last_seen > 60_000 {
            self.write(move |tx| {
                tx.conn().execute("UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1", params![th, tx.now_ms()])?;
                Ok(())
            })
            .await?;
        }
        let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?;
        Ok(Actor { user_id, username, display_name, role })
    }

    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        let th = token_hash(token);
        self.write(move |tx| {
            tx.conn().execute("DELETE FROM sessions WHERE token_hash = ?1", params![th])?;
            Ok(())
        })
        .await
    }

    /// The first active manager (used by the CLI's simulations).
    pub fn first_manager(&self) -> Result<Actor, StoreError> {
        self.read(|c| {
            c.query_row("SELECT user_id, username, display_name FROM staff WHERE role = 'manager' AND active = 1 ORDER BY rowid LIMIT 1", [], |r| {
                Ok(Actor { user_id: r.get(0)?, username: r.get(1)?, display_name: r.get(2)?, role: Role::Manager })
            })
            .optional()?
            .ok_or_else(|| StoreError::not_found("manager", "any"))
        })
    }
}
