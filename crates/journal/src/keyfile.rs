//! Ed25519 signing-key files: 64 hex digits, created with mode 0600 and never overwritten.
//! The journal's only file I/O, kept here so stores and HQ treat their keys the same way.

use ed25519_dalek::SigningKey;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot create key file {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("cannot read key file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a signing key (64 hex digits)")]
    Malformed { path: String },
}

/// Writes a new key file (mode 0600 on Unix); refuses to overwrite an existing one.
pub fn write(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    use std::io::Write;
    let err = |source| KeyFileError::Create { path: path.display().to_string(), source };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(hex::encode(key.to_bytes()).as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read { path: path.display().to_string(), source })?;
    parse(&text).ok_or_else(|| KeyFileError::Malformed { path: path.display().to_string() })
}

/// A key file's text: 64 hex digits, surrounding white space allowed.
pub fn parse(text: &str) -> Option<SigningKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok().and_then(|b| b.try_into().ok())?;
    Some(SigningKey::from_bytes(&bytes))
}
