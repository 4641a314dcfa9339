//! API keys: bearer tokens read from a file, each with an id that metrics and logs use
//! instead of the secret.
//!
//! File format, one key per line (blank lines and `#` comments ignored):
//!
//! ```text
//! # id      secret
//! acme      3f9c0d8e6a1b47c2a5e0d1f49b7c8e21
//! 7d1e0c5b9a2f4e3d8c6b1a0f9e8d7c6b      # a secret alone: its id is key-<first 8 hex of its SHA-256>
//! ```
//!
//! Secrets are at least 16 characters of printable ASCII without spaces. Only their SHA-256
//! is kept in memory, and a presented token is hashed before it is looked up, so the lookup's
//! timing says nothing about the secrets.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// The configured keys.
#[derive(Clone, Default)]
pub struct ApiKeys {
    by_hash: HashMap<[u8; 32], String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.by_hash.values().collect();
        ids.sort();
        f.debug_struct("ApiKeys").field("ids", &ids).finish()
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl ApiKeys {
    /// Keys from `(id, secret)` pairs.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] or with spaces or control characters, an
    /// empty id, or a duplicate id or secret.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<ApiKeys, String> {
        let mut keys = ApiKeys::default();
        for (id, secret) in pairs {
            keys.add(id, secret)?;
        }
        Ok(keys)
    }

    fn add(&mut self, id: &str, secret: &str) -> Result<(), String> {
        if secret.len() < MIN_SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("key {id:?}: a secret is at least {MIN_SECRET_LEN} printable ASCII characters without spaces"));
        }
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("key id {id:?}: printable ASCII without spaces"));
        }
        if self.by_hash.values().any(|v| v == id) {
            return Err(format!("key id {id:?} appears twice"));
        }
        if self.by_hash.insert(hash(secret), id.to_string()).is_some() {
            return Err(format!("key {id:?}: the same secret appears twice"));
        }
        Ok(())
    }

    /// Reads a keys file (format in the module docs).
    ///
    /// # Errors
    /// An unreadable file, a malformed line (naming its number), or a file with no key.
    pub fn from_file(path: &Path) -> Result<ApiKeys, String> {
        let bytes = facecore::limits::read_file("API keys file", path, 16 << 20).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
        let mut keys = ApiKeys::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, secret) = match fields.as_slice() {
                [secret] => (Self::default_id(secret), *secret),
                [id, secret] => (id.to_string(), *secret),
                _ => return Err(format!("{}:{}: expected `ID SECRET` or `SECRET`", path.display(), n + 1)),
            };
            keys.add(&id, secret).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        }
        if keys.is_empty() {
            return Err(format!("{}: no API key in the file", path.display()));
        }
        Ok(keys)
    }

    /// The id of a secret listed without one: `key-` and the first 8 hex digits of its SHA-256.
    pub fn default_id(secret: &str) -> String {
        let h = hash(secret);
        format!("key-{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3])
    }

    /// The id of a presented secret, if it is a configured key.
    pub fn id_of(&self, secret: &str) -> Option<&str> {
        self.by_hash.get(&hash(secret)).map(String::as_str)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("facecore-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("keys");
        std::fs::write(&p, "# comment\nacme 0123456789abcdef0123\n\nfedcba9876543210fedc # no id\n").unwrap();
        let k = ApiKeys::from_file(&p).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k.id_of("0123456789abcdef0123"), Some("acme"));
        assert_eq!(k.id_of("fedcba9876543210fedc").unwrap(), ApiKeys::default_id("fedcba9876543210fedc"));
        assert_eq!(k.id_of("acme"), None);
        std::fs::write(&p, "short\n").unwrap();
        assert!(ApiKeys::from_file(&p).unwrap_err().contains(":1:"));
        std::fs::write(&p, "a 0123456789abcdef0123\na 0123456789abcdef0124\n").unwrap();
        assert!(ApiKeys::from_file(&p).is_err());
        std::fs::write(&p, "# nothing\n").unwrap();
        assert!(ApiKeys::from_file(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
