//! One error type for store use cases. Variants separate "your request is wrong" (with a stable
//! code for clients) from "something broke" (storage, corruption).

use stockade_domain::compliance::Violation;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request is well-formed JSON but its content is not acceptable.
    #[error("{message}")]
    Invalid { code: &'static str, message: String, fields: Vec<stockade_domain::catalog::FieldError> },
    #[error("{what} '{id}' does not exist")]
    NotFound { what: &'static str, id: String },
    /// The request conflicts with the current state (stock, till state, duplicates).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A sale refused by the age rule or a purchase limit; lists every violated rule.
    #[error("sale refused: {}", .0.iter().map(|v| v.message()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Violation>),
    #[error("this action needs a manager")]
    Forbidden,
    #[error("not signed in, or the session expired")]
    Unauthorized,
    /// Every password-hashing slot is taken (a burst of sign-ins): answered at once instead of
    /// queueing memory-hungry hashes.
    #[error("too many sign-ins at once; try again in a moment")]
    Busy,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A journal entry whose effect cannot be represented (a total would leave its range, or
    /// a kind written by a newer release). A new command that would cause it is refused whole.
    #[error("journal entry {seq} ({kind}) cannot be applied: {reason}")]
    Unprojectable { seq: u64, kind: String, reason: String },
    /// A command panicked: it was rolled back alone and the store keeps serving.
    #[error("internal error (incident {0}); nothing was recorded")]
    Incident(String),
    /// The database was written by a newer release (schema `found`, this release knows `known`).
    #[error("the database has schema version {found} but this release of stockade knows versions up to {known}: run the newer release (or restore a backup made before the upgrade)")]
    SchemaTooNew { found: i64, known: i64 },
    /// The store found its database damaged: it takes no sales (nothing could be recorded
    /// reliably) until the manager runs the repair command the message names.
    #[error("{0}")]
    Damaged(String),
    /// The store cannot record anything right now (its witness file or its disk): the
    /// message says why and what brings it back; nothing was recorded.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("storage error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(String),
}

impl StoreError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Invalid { code, message: message.into(), fields: vec![] }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict { code, message: message.into() }
    }
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound { what, id: id.into() }
    }
}
