//! Staff accounts and sessions: Argon2id passwords (OWASP parameters), 256-bit session tokens
//! from the OS generator stored only as hashes; wrong tries slow a name from one address
//! (`signin`), never lock an account.

use crate::error::StoreError;
use crate::hashing;
pub use crate::hashing::hashing_slots;
use crate::node::{Store, Tx};
use crate::signin::{self, Alert, Method};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use stockade_journal::event::Role;
use stockade_journal::Event;

pub const SESSION_IDLE_MS: i64 = 2 * 60 * 60 * 1000;
pub const SESSION_ABSOLUTE_MS: i64 = 14 * 60 * 60 * 1000;
/// Wrong PINs in a row before the PIN is refused until a password sign-in.
pub const MAX_PIN_FAILURES: i64 = 5;

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// What an unknown name's secret is checked against, so it costs what a real one does.
fn dummy_hash(slot: &mut hashing::Slot) -> &'static str {
    if let Some(h) = DUMMY_HASH.get() {
        return h;
    }
    let made = slot.hash("not a real password").unwrap_or_default();
    DUMMY_HASH.get_or_init(|| made)
}

/// Checks `secret` against `stored` in a hashing slot (or against a dummy hash when there is
/// nothing stored, at the same cost), off the async threads.
async fn check_secret(secret: &str, stored: Option<String>) -> Result<bool, StoreError> {
    let mut slot = hashing::slot()?;
    let secret = secret.to_string();
    hashing::off_thread(move || match stored {
        Some(h) => slot.verify(&secret, &h),
        None => {
            let dummy = dummy_hash(&mut slot);
            let _ = slot.verify(&secret, dummy);
            false
        }
    })
    .await
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

/// A new password hash, for callers outside the server's request path (store creation, the
/// CLI); takes a hashing slot like every other hash.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    hashing::slot_waiting()?.hash(password)
}

pub fn check_new_credentials(username: &str, password: &str) -> Result<(), StoreError> {
    let ok_name = (3..=32).contains(&username.len()) && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok_name {
        return Err(StoreError::invalid("invalid_username", "usernames are 3 to 32 characters: a-z, 0-9, '.', '_' or '-'"));
    }
    if !(8..=128).contains(&password.chars().count()) {
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
        if display_name.trim().is_empty() || display_name.chars().count() > 80 || display_name.chars().any(char::is_control) {
            return Err(StoreError::invalid("invalid_display_name", "a display name of 1 to 80 characters is required"));
        }
        let mut slot = hashing::slot()?;
        let hash = hashing::off_thread(move || slot.hash(&password)).await??;
        let by = actor.user_id.clone();
        let (u, d) = (username.clone(), display_name.clone());
        let user_id = self.write(move |tx| add_staff_in_tx(tx, &by, &u, &d, role, &hash)).await?;
        Ok(Actor { user_id, username, display_name, role })
    }

    /// Checks a password and opens a session, for a caller on this machine (the CLI).
    pub async fn login(&self, username: &str, password: &str) -> Result<(String, Actor), StoreError> {
        self.login_from(username, password, "local").await
    }

    /// Checks a password and opens a session. Returns the bearer token (shown once, stored
    /// hashed). `from` names where the attempt came from (the API passes a keyed hash of the
    /// client's address): wrong tries slow that name from that place only (see `signin`).
    /// Every refusal is the same `Unauthorized`: wrong password, unknown name, disabled
    /// account, or a try while that pair waits.
    pub async fn login_from(&self, username: &str, password: &str, from: &str) -> Result<(String, Actor), StoreError> {
        let now = self.clock().now_ms();
        if self.attempts().waiting(Method::Password, username, from, now) {
            tracing::warn!(from = %from, "login refused: waiting after wrong tries");
            return Err(StoreError::Unauthorized);
        }
        let name = username.to_string();
        let row = self
            .read_async(move |c| {
                Ok(c.query_row(
                    "SELECT s.user_id, s.username, s.display_name, s.role, s.active, c.password_hash
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
                        ))
                    },
                )
                .optional()?)
            })
            .await?;
        // Unknown users still pay for one hash, so timing does not reveal which usernames exist.
        let ok = check_secret(password, row.as_ref().map(|r| r.5.clone())).await?;
        let Some((user_id, uname, display, role, _, _)) = row.filter(|r| ok && r.4) else {
            // Not the name itself: it may be a password typed in the wrong box, or carry a
            // newline that forges a log line.
            tracing::warn!(username_chars = username.chars().count(), from = %from, "login failed");
            self.sign_in_failed(Method::Password, username, from).await;
            return Err(StoreError::Unauthorized);
        };
        self.attempts().succeeded(Method::Password, username, from);
        let token = self.open_session(&user_id, true).await?;
        tracing::info!(user_id = %user_id, "login");
        let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?;
        Ok((token, Actor { user_id, username: uname, display_name: display, role }))
    }

    /// Counts a failed sign-in and tells the managers (a security alert, which reaches HQ) when
    /// a name is being guessed. The alert names the account only when it exists (staff
    /// usernames are in the journal already); text typed for an unknown name is never kept.
    async fn sign_in_failed(&self, method: Method, username: &str, from: &str) {
        let alert = self.attempts().failed(method, username, from, self.clock().now_ms());
        if alert == Alert::None {
            return;
        }
        let name = username.to_string();
        let known = self
            .read_async(move |c| Ok(c.query_row("SELECT username FROM staff WHERE username = ?1", params![name], |r| r.get::<_, String>(0)).optional()?))
            .await
            .ok()
            .flatten();
        let who = match known {
            Some(u) => format!("staff account '{u}'"),
            None => "a username that does not exist".to_string(),
        };
        let what = match method {
            Method::Password => "passwords",
            Method::Pin => "PINs",
        };
        let message = match alert {
            Alert::PairWaits => format!(
                "sign-in: {} wrong {what} in a row for {who} from {from}; that address now waits before each new try (doubling, up to {} minutes); the account is not locked",
                signin::FREE_TRIES,
                signin::MAX_WAIT_MS / 60_000
            ),
            Alert::Distributed(n) => format!("sign-in: {n} wrong {what} for {who} from several addresses within {} minutes", signin::WINDOW_MS / 60_000),
            Alert::None => return,
        };
        if let Err(e) = self.raise_alert("sign_in_guessing", message).await {
            tracing::error!(error = %e, "cannot record a sign-in alert");
        }
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
        let mut slot = hashing::slot()?;
        let pin_hash = hashing::off_thread(move || if slot.verify(&p, &hash) { slot.hash(&n).map(Some) } else { Ok(None) }).await??;
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

    /// Quick switch at a shared till, for a caller on this machine.
    pub async fn pin_login(&self, username: &str, pin: &str) -> Result<(String, Actor), StoreError> {
        self.pin_login_from(username, pin, "local").await
    }

    /// Quick switch at a shared till: username and PIN open a session. Wrong PINs slow that
    /// name from that address as wrong passwords do; besides, after [`MAX_PIN_FAILURES`] wrong
    /// PINs in a row from anywhere the PIN is refused until a password sign-in (a PIN is short
    /// enough to guess from many addresses), and the managers are told. Every refusal is the
    /// same `Unauthorized`.
    pub async fn pin_login_from(&self, username: &str, pin: &str, from: &str) -> Result<(String, Actor), StoreError> {
        let now = self.clock().now_ms();
        if self.attempts().waiting(Method::Pin, username, from, now) {
            tracing::warn!(from = %from, "PIN sign-in refused: waiting after wrong tries");
            return Err(StoreError::Unauthorized);
        }
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
        // Each try is counted before its hash, in one statement, so tries at the same time
        // cannot all slip under the lock; a right PIN clears the count when its session opens.
        let reserved: Option<i64> = match &row {
            Some((uid, ..)) => {
                let uid = uid.clone();
                self.write(move |tx| {
                    Ok(tx
                        .conn()
                        .query_row(
                            "UPDATE pins SET failed = failed + 1 WHERE user_id = ?1 AND failed < ?2 RETURNING failed",
                            params![uid, MAX_PIN_FAILURES],
                            |r| r.get(0),
                        )
                        .optional()?)
                })
                .await?
            }
            None => None,
        };
        // A locked PIN is not even checked, but costs the same hash as any other try.
        let ok = check_secret(pin, row.as_ref().filter(|_| reserved.is_some()).map(|r| r.4.clone())).await?;
        let Some((user_id, uname, display, role, _, _)) = row else {
            tracing::warn!(from = %from, "PIN sign-in failed: no such user with a PIN");
            self.sign_in_failed(Method::Pin, username, from).await;
            return Err(StoreError::Unauthorized);
        };
        if !ok {
            if let Some(failed) = reserved {
                if failed == MAX_PIN_FAILURES {
                    let message = format!("sign-in: the PIN of staff account '{uname}' is locked after {MAX_PIN_FAILURES} wrong PINs in a row; it opens again when they sign in with their password");
                    if let Err(e) = self.raise_alert("sign_in_guessing", message).await {
                        tracing::error!(error = %e, "cannot record a sign-in alert");
                    }
                }
            }
            tracing::warn!(user_id = %user_id, from = %from, "PIN sign-in failed: wrong or locked PIN");
            self.sign_in_failed(Method::Pin, username, from).await;
            return Err(StoreError::Unauthorized);
        }
        self.attempts().succeeded(Method::Pin, username, from);
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
