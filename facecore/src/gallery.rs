//! Galleries of enrolled people: 1:N search and a single-file, checksummed store, optionally
//! encrypted.
//!
//! File format (little endian), version 2:
//! `"FACECORE-GALLERY"` (16 bytes) · u32 version · u32 flags · body · SHA-256 of all
//! preceding bytes (32 bytes).
//! - flags 0, plain: u32 len + UTF-8 embedding space id · u32 dim · u64 next person id ·
//!   u32 people · per person: u64 id, u32 len + UTF-8 name, u32 len + UTF-8 metadata,
//!   u32 count, count x dim f32.
//! - flags 1, encrypted: 24-byte nonce · XChaCha20-Poly1305 ciphertext and tag of a whole
//!   plain version-2 file, with the 48 bytes before the ciphertext as associated data.
//!
//! Version 1 (plain, no person ids) is still read; ids 1, 2, ... are given in file order.
//! Readers check the checksum first: a damaged file is reported as damaged, not as a newer
//! version; unknown versions and flags are refused only once the file is known to be intact.
//! The checksum catches damage, the AEAD tag catches forgery: an encrypted file altered by
//! someone who recomputed the checksum fails with [`Error::Key`].
//! Saves go through [`crate::persist`]: an exclusive temporary file in the same directory,
//! synced and renamed over the old one (a crash leaves the old or the new gallery, never a
//! torn one), one save at a time per path (in the process and, by an advisory lock, across
//! processes), mode 0600 for new files, symlinks followed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::embed::{Embedding, dot};
use crate::error::{Error, Result};
use crate::limits;

const MAGIC: &[u8; 16] = b"FACECORE-GALLERY";
const VERSION: u32 = 2;
const FLAG_ENCRYPTED: u32 = 1;
const NONCE_LEN: usize = 24;
/// Magic, version, flags and nonce: the associated data of an encrypted file.
const SEALED_HEADER: usize = 16 + 4 + 4 + NONCE_LEN;
const TAG_LEN: usize = 16;
/// Largest embedding a gallery holds.
pub const MAX_DIM: usize = 4096;
/// Largest person name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Largest metadata string and embedding space id, in bytes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// A person's id: given at enrolment, never reused within a gallery (also after removals,
/// and across save and load), so it stays valid while other people come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(pub u64);

impl std::fmt::Display for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One enrolled person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Stable id.
    pub id: PersonId,
    /// Unique name.
    pub name: String,
    /// Free-form metadata (e.g. JSON), empty when unset.
    pub metadata: String,
    /// How many embeddings are enrolled.
    pub embeddings: usize,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The person's stable id.
    pub id: PersonId,
    /// The person's name.
    pub name: String,
    /// Best cosine similarity between the probe and the person's embeddings.
    pub score: f32,
}

/// Open-set answer: a known person above the threshold, or unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// The best match clears the threshold.
    Known(Match),
    /// Nobody clears it; the best candidate, if any, is given for inspection.
    Unknown(Option<Match>),
}

/// A 256-bit key for encrypted galleries. The caller keeps it (a key store, a secure
/// element, a KDF over a passphrase); facecore never stores it. Wiped from memory on drop.
#[derive(Clone)]
pub struct GalleryKey(zeroize::Zeroizing<[u8; 32]>);

impl std::fmt::Debug for GalleryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GalleryKey(<redacted>)")
    }
}

impl GalleryKey {
    /// A key from 32 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `bytes` is exactly 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let k: [u8; 32] = bytes.try_into().map_err(|_| Error::input("gallery key", format!("{} bytes, a key is 32", bytes.len())))?;
        Ok(GalleryKey(zeroize::Zeroizing::new(k)))
    }

    /// A new random key from the operating system's generator.
    ///
    /// # Errors
    /// [`Error::Io`] when the generator fails.
    pub fn generate() -> Result<Self> {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        OsRng.try_fill_bytes(&mut *k).map_err(|e| Error::io("<system random source>", std::io::Error::other(e.to_string())))?;
        Ok(GalleryKey(k))
    }

    /// The key's bytes, to store it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key from a key file: 64 hex digits (what `facecore keygen` writes; surrounding
    /// whitespace ignored) or 32 raw bytes.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::LimitExceeded`] for a file over
    /// 1 KiB, [`Error::InvalidInput`] for anything but those two forms.
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = zeroize::Zeroizing::new(limits::read_file("key file", path, 1024)?);
        let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or("");
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut k = zeroize::Zeroizing::new([0u8; 32]);
            for (i, b) in k.iter_mut().enumerate() {
                *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| Error::input("key file", e.to_string()))?;
            }
            return Ok(GalleryKey(k));
        }
        if bytes.len() == 32 {
            return Self::from_bytes(&bytes);
        }
        Err(Error::input("key file", format!("{}: a key file holds 64 hex digits or 32 raw bytes", path.display())))
    }
}

/// People with one or more embeddings each, all from one embedding space.
///
/// Two galleries are equal when they hold the same people (ids, names, metadata), in the
/// same order, with the same embeddings each (row storage order does not matter).
#[derive(Clone)]
pub struct Gallery {
    space: Option<Arc<str>>,
    dim: usize,
    ids: Vec<u64>,
    names: Vec<String>,
    metadata: Vec<String>,
    /// Embeddings, row-major, `dim` floats each.
    vectors: Vec<f32>,
    /// Owner (index into `names`) of each embedding row.
    owner: Vec<u32>,
    /// Name -> index into `names`, so enrolment and lookups stay O(1) at a million people.
    index: HashMap<String, u32>,
    /// Id -> index into `names`.
    by_id: HashMap<u64, u32>,
    /// The id the next new person gets.
    next_id: u64,
}

impl std::fmt::Debug for Gallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery")
            .field("space", &self.space)
            .field("dim", &self.dim)
            .field("people", &self.names.len())
            .field("embeddings", &self.owner.len())
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Default for Gallery {
    fn default() -> Self {
        Gallery {
            space: None,
            dim: 0,
            ids: Vec::new(),
            names: Vec::new(),
            metadata: Vec::new(),
            vectors: Vec::new(),
            owner: Vec::new(),
            index: HashMap::new(),
            by_id: HashMap::new(),
            next_id: 1,
        }
    }
}

impl PartialEq for Gallery {
    fn eq(&self, o: &Self) -> bool {
        let same_rows = || {
            let (ra, rb) = (self.rows_by_person(), o.rows_by_person());
            ra.iter().zip(&rb).all(|(a, b)| {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(&x, &y)| self.vectors[x * self.dim..(x + 1) * self.dim] == o.vectors[y * o.dim..(y + 1) * o.dim])
            })
        };
        self.space == o.space
            && self.dim == o.dim
            && self.ids == o.ids
            && self.next_id == o.next_id
            && self.names == o.names
            && self.metadata == o.metadata
            && same_rows()
    }
}

fn gerr(path: Option<&Path>, detail: impl Into<String>) -> Error {
    Error::Gallery { path: path.map(Path::to_path_buf), detail: detail.into() }
}

fn kerr(path: Option<&Path>, detail: impl Into<String>) -> Error {
    Error::Key { path: path.map(Path::to_path_buf), detail: detail.into() }
}

impl Gallery {
    /// An empty gallery; its embedding space is fixed by the first enrolment.
    pub fn new() -> Self {
        Gallery::default()
    }

    /// The embedding space id, once something is enrolled.
    pub fn space(&self) -> Option<&str> {
        self.space.as_deref()
    }

    /// Number of people.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The people, in enrolment order.
    pub fn people(&self) -> Vec<Person> {
        let counts = self.counts();
        (0..self.names.len()).map(|i| self.person_at_with(i, counts[i])).collect()
    }

    fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.names.len()];
        for &o in &self.owner {
            counts[o as usize] += 1;
        }
        counts
    }

    fn person_at_with(&self, i: usize, embeddings: usize) -> Person {
        Person { id: PersonId(self.ids[i]), name: self.names[i].clone(), metadata: self.metadata[i].clone(), embeddings }
    }

    fn person_at(&self, i: usize) -> Person {
        let n = self.owner.iter().filter(|&&o| o as usize == i).count();
        self.person_at_with(i, n)
    }

    /// The person with this id (O(1) plus a count of their embeddings).
    pub fn person(&self, id: PersonId) -> Option<Person> {
        self.by_id.get(&id.0).map(|&i| self.person_at(i as usize))
    }

    /// The person with this name.
    pub fn person_by_name(&self, name: &str) -> Option<Person> {
        self.index.get(name).map(|&i| self.person_at(i as usize))
    }

    /// The id of `name`, if enrolled (O(1)).
    pub fn id_of(&self, name: &str) -> Option<PersonId> {
        self.index.get(name).map(|&i| PersonId(self.ids[i as usize]))
    }

    /// The name of person `id`, if enrolled (O(1), no copy).
    pub fn name_of(&self, id: PersonId) -> Option<&str> {
        self.by_id.get(&id.0).map(|&i| self.names[i as usize].as_str())
    }

    /// The metadata of person `id`, if enrolled (O(1), no copy).
    pub fn metadata_of(&self, id: PersonId) -> Option<&str> {
        self.by_id.get(&id.0).map(|&i| self.metadata[i as usize].as_str())
    }

    /// The id of the person at `index` in enrolment order (indices shift on removal; ids
    /// do not).
    pub fn id_at(&self, index: usize) -> Option<PersonId> {
        self.ids.get(index).map(|&i| PersonId(i))
    }

    /// Whether `name` is enrolled.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Embedding rows of each person, in row order.
    fn rows_by_person(&self) -> Vec<Vec<usize>> {
        let mut rows = vec![Vec::new(); self.names.len()];
        for (r, &o) in self.owner.iter().enumerate() {
            rows[o as usize].push(r);
        }
        rows
    }

    fn push_person(&mut self, id: u64, name: String, metadata: String) -> u32 {
        let idx = self.names.len() as u32;
        self.index.insert(name.clone(), idx);
        self.by_id.insert(id, idx);
        self.ids.push(id);
        self.names.push(name);
        self.metadata.push(metadata);
        idx
    }

    fn check_space(&self, e: &Embedding) -> Result<()> {
        match &self.space {
            Some(s) if &**s != e.model() || self.dim != e.dim() => {
                Err(Error::ModelMismatch { left: format!("gallery of {s}"), right: e.model().to_string() })
            }
            _ => Ok(()),
        }
    }

    /// Adds an embedding to `name`, creating the person if needed; returns their id.
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] when the embedding is from another space than the gallery,
    /// [`Error::InvalidInput`] for a blank or over-long name ([`MAX_NAME_BYTES`]) or an
    /// embedding a gallery file cannot hold.
    pub fn enroll(&mut self, name: &str, embedding: &Embedding) -> Result<PersonId> {
        if name.trim().is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(Error::input("name", format!("must be non-blank and at most {MAX_NAME_BYTES} bytes")));
        }
        // What the reader accepts, the writer must too: never save a gallery that cannot load.
        if embedding.dim() == 0 || embedding.dim() > MAX_DIM || embedding.model().is_empty() || embedding.model().len() > MAX_TEXT_BYTES {
            return Err(Error::input("embedding", format!("a gallery holds 1 to {MAX_DIM} dimensions and a space id of 1 byte to 1 MiB")));
        }
        self.check_space(embedding)?;
        if self.owner.len() >= u32::MAX as usize {
            return Err(Error::limit("gallery embeddings", u64::from(u32::MAX), self.owner.len() as u64 + 1, "embeddings"));
        }
        if self.space.is_none() {
            self.space = Some(embedding.model().into());
            self.dim = embedding.dim();
        }
        let idx = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.push_person(id, name.to_string(), String::new())
            }
        };
        self.vectors.extend_from_slice(embedding.as_slice());
        self.owner.push(idx);
        Ok(PersonId(self.ids[idx as usize]))
    }

    /// Sets a person's metadata.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown name or metadata over 1 MiB.
    pub fn set_metadata(&mut self, name: &str, metadata: &str) -> Result<()> {
        if metadata.len() > MAX_TEXT_BYTES {
            return Err(Error::input("metadata", "over 1 MiB"));
        }
        let i = *self.index.get(name).ok_or_else(|| Error::input("name", format!("{name:?} is not enrolled")))?;
        self.metadata[i as usize] = metadata.to_string();
        Ok(())
    }

    /// Removes a person and all their embeddings; returns whether they were enrolled.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.index.get(name) {
            Some(&i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    /// Removes the person with this id; returns whether they were enrolled.
    pub fn remove_id(&mut self, id: PersonId) -> bool {
        match self.by_id.get(&id.0) {
            Some(&i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    fn remove_at(&mut self, i: u32) {
        let dim = self.dim;
        let mut vectors = Vec::with_capacity(self.vectors.len());
        let mut owner = Vec::with_capacity(self.owner.len());
        for (row, &o) in self.owner.iter().enumerate() {
            if o != i {
                vectors.extend_from_slice(&self.vectors[row * dim..(row + 1) * dim]);
                owner.push(if o > i { o - 1 } else { o });
            }
        }
        self.vectors = vectors;
        self.owner = owner;
        let name = self.names.remove(i as usize);
        self.metadata.remove(i as usize);
        let id = self.ids.remove(i as usize);
        self.index.remove(&name);
        self.by_id.remove(&id);
        for v in self.index.values_mut().chain(self.by_id.values_mut()) {
            if *v > i {
                *v -= 1;
            }
        }
    }

    /// The `k` best people for a probe, best first (each person scored by their best embedding).
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] when the probe is from another embedding space.
    pub fn search(&self, probe: &Embedding, k: usize) -> Result<Vec<Match>> {
        if self.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        self.check_space(probe)?;
        Ok(self.top_k(k, |v| dot(v, probe.as_slice())))
    }

    /// The `k` best people by one branch of a fused space: `probe` is a unit embedding of
    /// that branch, whose part of each row starts at `offset` and was scaled by
    /// `sqrt(weight)` (see [`crate::Recognizer::branch_layout`]); the score is the cosine
    /// between `probe` and that part, exact up to f32 rounding. The caller checks that the
    /// gallery is of the fused space.
    pub(crate) fn search_part(&self, probe: &[f32], offset: usize, weight: f32, k: usize) -> Result<Vec<Match>> {
        if self.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        if offset + probe.len() > self.dim || weight.is_nan() || weight <= 0.0 {
            return Err(Error::input("gallery", format!("no {}-d part at {offset} in {}-d embeddings", probe.len(), self.dim)));
        }
        let inv = 1.0 / weight.sqrt();
        Ok(self.top_k(k, |v| dot(&v[offset..offset + probe.len()], probe) * inv))
    }

    fn top_k(&self, k: usize, score: impl Fn(&[f32]) -> f32) -> Vec<Match> {
        let mut best = vec![f32::NEG_INFINITY; self.names.len()];
        for (row, v) in self.vectors.chunks_exact(self.dim).enumerate() {
            let s = score(v);
            let o = self.owner[row] as usize;
            if s > best[o] {
                best[o] = s;
            }
        }
        // Top-k by partial selection (O(N)), then sort only those k.
        let mut order: Vec<usize> = (0..best.len()).collect();
        let by_score = |a: &usize, b: &usize| best[*b].total_cmp(&best[*a]).then(a.cmp(b));
        if k < order.len() {
            order.select_nth_unstable_by(k, by_score);
            order.truncate(k);
        }
        order.sort_by(by_score);
        order.into_iter().map(|i| Match { id: PersonId(self.ids[i]), name: self.names[i].clone(), score: best[i] }).collect()
    }

    /// Open-set identification: the best person if their score reaches `threshold`.
    ///
    /// # Errors
    /// As [`Gallery::search`].
    pub fn identify(&self, probe: &Embedding, threshold: f32) -> Result<Identity> {
        let best = self.search(probe, 1)?.pop();
        Ok(match best {
            Some(m) if m.score >= threshold => Identity::Known(m),
            other => Identity::Unknown(other),
        })
    }

    /// Serialises to the versioned, checksummed plain format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.names.len() * 32 + self.vectors.len() * 4);
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        put_str(&mut b, self.space.as_deref().unwrap_or(""));
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        b.extend_from_slice(&self.next_id.to_le_bytes());
        b.extend_from_slice(&(self.names.len() as u32).to_le_bytes());
        for (i, rows) in self.rows_by_person().into_iter().enumerate() {
            b.extend_from_slice(&self.ids[i].to_le_bytes());
            put_str(&mut b, &self.names[i]);
            put_str(&mut b, &self.metadata[i]);
            b.extend_from_slice(&(rows.len() as u32).to_le_bytes());
            for r in rows {
                for v in &self.vectors[r * self.dim..(r + 1) * self.dim] {
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum);
        b
    }

    /// Serialises and encrypts with `key` (XChaCha20-Poly1305, a fresh random nonce each time).
    ///
    /// # Errors
    /// [`Error::Io`] when the system's random generator fails.
    pub fn to_encrypted_bytes(&self, key: &GalleryKey) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(self.to_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.try_fill_bytes(&mut nonce).map_err(|e| Error::io("<system random source>", std::io::Error::other(e.to_string())))?;
        let mut b = Vec::with_capacity(SEALED_HEADER + plain.len() + TAG_LEN + 32);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&FLAG_ENCRYPTED.to_le_bytes());
        b.extend_from_slice(&nonce);
        let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: &b })
            .map_err(|_| Error::input("gallery", "too large to encrypt"))?;
        b.extend_from_slice(&sealed);
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum);
        Ok(b)
    }

    /// Parses a plain gallery file held in memory.
    ///
    /// # Errors
    /// [`Error::Gallery`] for a foreign, truncated, damaged or newer-version file,
    /// [`Error::Key`] for an encrypted one, [`Error::LimitExceeded`] over
    /// [`limits::Limits::gallery_file_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        limits::check_len("gallery", bytes.len(), limits::get().gallery_file_bytes)?;
        Self::parse(bytes, None, None)
    }

    /// Parses an encrypted gallery file held in memory.
    ///
    /// # Errors
    /// As [`Gallery::from_bytes`]; [`Error::Key`] for a wrong key, a forged or altered file
    /// or an unencrypted one (a plain file where an encrypted one belongs may be a
    /// substitution: it is refused, not read).
    pub fn from_encrypted_bytes(bytes: &[u8], key: &GalleryKey) -> Result<Self> {
        limits::check_len("gallery", bytes.len(), limits::get().gallery_file_bytes)?;
        Self::parse(bytes, None, Some(key))
    }

    fn parse(bytes: &[u8], path: Option<&Path>, key: Option<&GalleryKey>) -> Result<Self> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(gerr(path, "not a facecore gallery (bad magic)"));
        }
        if bytes.len() < MAGIC.len() + 8 + 32 {
            return Err(gerr(path, "truncated"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        // Integrity first: a flipped byte anywhere (the version word included) is damage.
        if Sha256::digest(body).as_slice() != sum {
            return Err(gerr(path, "checksum mismatch: the file is damaged or truncated"));
        }
        let mut r = Reader { b: body, pos: MAGIC.len(), path };
        let version = r.u32()?;
        if version != 1 && version != VERSION {
            return Err(gerr(path, format!("format version {version}, this facecore reads versions 1 and {VERSION}")));
        }
        let flags = r.u32()?;
        let known = if version == 1 { 0 } else { FLAG_ENCRYPTED };
        if flags & !known != 0 {
            return Err(gerr(path, format!("unknown flags {flags:#x} (written by a newer facecore)")));
        }
        match (flags & FLAG_ENCRYPTED != 0, key) {
            (true, None) => Err(kerr(path, "the gallery is encrypted: open it with its key")),
            (false, Some(_)) => Err(kerr(path, "a key was given but the gallery is not encrypted (refused: it may have been substituted)")),
            (false, None) => Self::parse_plain(r, version),
            (true, Some(key)) => {
                if body.len() < SEALED_HEADER + TAG_LEN {
                    return Err(gerr(path, "truncated"));
                }
                let (aad, sealed) = body.split_at(SEALED_HEADER);
                let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
                let plain = cipher
                    .decrypt(XNonce::from_slice(&aad[24..]), Payload { msg: sealed, aad })
                    .map(zeroize::Zeroizing::new)
                    .map_err(|_| kerr(path, "wrong key, or the file was altered by someone without the key"))?;
                // The sealed content is a whole plain file; anything else is a forgery made
                // with the right key (or a bug), never silently accepted.
                let inner = Self::parse(&plain, path, None)?;
                Ok(inner)
            }
        }
    }

    fn parse_plain(mut r: Reader<'_>, version: u32) -> Result<Self> {
        let path = r.path;
        let space = r.string(MAX_TEXT_BYTES)?;
        let dim = r.u32()? as usize;
        let next_id = if version >= 2 { r.u64()? } else { 0 };
        let people = r.u32()? as usize;
        if dim > MAX_DIM || (people > 0 && (dim == 0 || space.is_empty())) {
            return Err(gerr(path, format!("implausible header (dim {dim}, {people} people)")));
        }
        let mut g = Gallery { space: (!space.is_empty()).then(|| space.as_str().into()), dim, ..Gallery::default() };
        let mut max_id = 0u64;
        for n in 0..people {
            let id = if version >= 2 { r.u64()? } else { n as u64 + 1 };
            let name = r.string(MAX_NAME_BYTES)?;
            let meta = r.string(MAX_TEXT_BYTES)?;
            if name.trim().is_empty() || g.index.contains_key(&name) {
                return Err(gerr(path, format!("blank or duplicate name {name:?}")));
            }
            if id == 0 || g.by_id.contains_key(&id) {
                return Err(gerr(path, format!("zero or duplicate person id {id}")));
            }
            max_id = max_id.max(id);
            let count = r.u32()? as usize;
            let floats = r.take(count.checked_mul(dim).and_then(|x| x.checked_mul(4)).ok_or_else(|| gerr(path, "size overflow"))?)?;
            let idx = g.push_person(id, name, meta);
            for row in floats.chunks_exact(dim * 4) {
                let start = g.vectors.len();
                g.vectors.extend(row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
                // Stored as written (unit length): renormalising would move the last bit and
                // break exact round trips. Anything else (NaN, zero, not unit) is damage.
                let v = &g.vectors[start..];
                let norm2: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
                if !(norm2.is_finite() && (norm2 - 1.0).abs() < 1e-3) {
                    return Err(gerr(path, format!("embedding of {name:?} is not a finite unit vector", name = g.names[idx as usize])));
                }
                g.owner.push(idx);
            }
        }
        if r.pos != r.b.len() {
            return Err(gerr(path, "trailing bytes after the last person"));
        }
        g.next_id = if version >= 2 {
            if next_id <= max_id || next_id == u64::MAX {
                return Err(gerr(path, format!("next person id {next_id} is not above every id in the file")));
            }
            next_id
        } else {
            max_id + 1
        };
        Ok(g)
    }

    fn read(path: &Path, key: Option<&GalleryKey>) -> Result<Self> {
        let bytes = limits::read_file("gallery file", path, limits::get().gallery_file_bytes)?;
        Self::parse(&bytes, Some(path), key)
    }

    /// Reads a plain gallery file.
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable (a missing file is `is_not_found()`), [`Error::Gallery`]
    /// if damaged, [`Error::Key`] if encrypted, [`Error::LimitExceeded`] over
    /// [`limits::Limits::gallery_file_bytes`] (checked before reading).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::read(path.as_ref(), None)
    }

    /// Reads an encrypted gallery file.
    ///
    /// # Errors
    /// As [`Gallery::load`] and [`Gallery::from_encrypted_bytes`].
    pub fn load_encrypted(path: impl AsRef<Path>, key: &GalleryKey) -> Result<Self> {
        Self::read(path.as_ref(), Some(key))
    }

    /// Reads a plain gallery file, or starts an empty gallery when the file does not exist.
    ///
    /// # Errors
    /// As [`Gallery::load`], except for a missing file.
    pub fn load_or_new(path: impl AsRef<Path>) -> Result<Self> {
        Self::or_new(Self::read(path.as_ref(), None))
    }

    /// Reads an encrypted gallery file, or starts an empty gallery when the file does not
    /// exist.
    ///
    /// # Errors
    /// As [`Gallery::load_encrypted`], except for a missing file.
    pub fn load_or_new_encrypted(path: impl AsRef<Path>, key: &GalleryKey) -> Result<Self> {
        Self::or_new(Self::read(path.as_ref(), Some(key)))
    }

    fn or_new(read: Result<Self>) -> Result<Self> {
        match read {
            Err(e) if e.is_not_found() => Ok(Gallery::new()),
            other => other,
        }
    }

    /// Writes the plain gallery atomically: an exclusive temporary file beside `path`,
    /// synced, then renamed over it. Concurrent saves of one path (threads, processes) take
    /// turns; a new file gets mode 0600, an existing one keeps its mode; a symlink is followed.
    ///
    /// # Errors
    /// [`Error::Io`] on any file-system failure (the previous file is then left intact),
    /// [`Error::LimitExceeded`] when the file would be larger than
    /// [`limits::Limits::gallery_file_bytes`] (nothing is written: it could not be loaded).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write(path.as_ref(), self.to_bytes())
    }

    /// As [`Gallery::save`], encrypted with `key`.
    ///
    /// # Errors
    /// As [`Gallery::save`].
    pub fn save_encrypted(&self, path: impl AsRef<Path>, key: &GalleryKey) -> Result<()> {
        self.write(path.as_ref(), self.to_encrypted_bytes(key)?)
    }

    fn write(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        if path.file_name().is_none() {
            return Err(Error::input("gallery path", format!("{} has no file name", path.display())));
        }
        limits::check_len("gallery file", bytes.len(), limits::get().gallery_file_bytes)?;
        crate::persist::write_atomic(path, &bytes).map_err(|e| Error::io(path, e))
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    path: Option<&'a Path>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| gerr(self.path, "truncated record"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self, max: usize) -> Result<String> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(gerr(self.path, format!("string of {n} bytes, at most {max} allowed")));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| gerr(self.path, "string is not UTF-8"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("facecore-gallery-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn key_files_hold_hex_or_raw_bytes() {
        let dir = temp_dir("keyfile");
        let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join("k");
        for content in [format!("{hex}\n").into_bytes(), format!("  {}  ", hex.to_uppercase()).into_bytes(), key.clone()] {
            std::fs::write(&path, &content).unwrap();
            assert_eq!(GalleryKey::from_key_file(&path).unwrap().as_bytes()[..], key[..]);
        }
        for bad in [hex.as_bytes()[..62].to_vec(), vec![0u8; 31], format!("{}zz", &hex[..62]).into_bytes()] {
            std::fs::write(&path, &bad).unwrap();
            assert!(matches!(GalleryKey::from_key_file(&path), Err(Error::InvalidInput { .. })));
        }
        std::fs::write(&path, vec![b'0'; 2048]).unwrap();
        assert!(matches!(GalleryKey::from_key_file(&path), Err(Error::LimitExceeded { .. })));
        assert!(matches!(GalleryKey::from_key_file(dir.join("missing")), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Re-seals a modified body with a valid checksum.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len() - 32;
        let sum = Sha256::digest(&b[..n]);
        b[n..].copy_from_slice(&sum);
        b
    }

    #[test]
    fn damage_is_reported_as_damage_and_unknown_versions_or_flags_only_when_intact() {
        let b = sample().to_bytes();
        // A flipped bit in the version word: damage, not "newer version".
        let mut flipped = b.clone();
        flipped[16] ^= 4;
        assert!(Gallery::from_bytes(&flipped).unwrap_err().to_string().contains("checksum"));
        let mut v3 = b.clone();
        v3[16..20].copy_from_slice(&3u32.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(v3)).unwrap_err().to_string().contains("version 3"));
        let mut flags = b.clone();
        flags[20..24].copy_from_slice(&2u32.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(flags)).unwrap_err().to_string().contains("unknown flags"));
    }

    /// A version-1 file (no person ids), as facecore 0.1 wrote it.
    fn v1_bytes(g: &Gallery) -> Vec<u8> {
        let mut b = Vec::new();
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        put_str(&mut b, g.space().unwrap());
        b.extend_from_slice(&(g.dim as u32).to_le_bytes());
        b.extend_from_slice(&(g.len() as u32).to_le_bytes());
        for (i, rows) in g.rows_by_person().into_iter().enumerate() {
            put_str(&mut b, &g.names[i]);
            put_str(&mut b, &g.metadata[i]);
            b.extend_from_slice(&(rows.len() as u32).to_le_bytes());
            for r in rows {
                g.vectors[r * g.dim..(r + 1) * g.dim].iter().for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
            }
        }
        b.extend_from_slice(&[0; 32]);
        reseal(b)
    }

    #[test]
    fn round_trips_are_bit_exact_and_non_unit_vectors_are_damage() {
        let mut g = Gallery::new();
        for i in 0..40u32 {
            let v: Vec<f32> = (0..128u32).map(|j| ((i * 31 + j * 17) % 101) as f32 / 7.0 - 6.0).collect();
            g.enroll(&format!("p{i}"), &Embedding::new("space", v).unwrap()).unwrap();
        }
        let back = Gallery::from_bytes(&g.to_bytes()).unwrap();
        assert_eq!(back.vectors.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), g.vectors.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        // One person with one row [1, 0, 0]: the last 12 bytes before the checksum. Made
        // [2, 0, 0] (norm 2) and resealed, it is refused as damage, not renormalised.
        let mut one = Gallery::new();
        one.enroll("a", &e("m", &[1.0, 0.0, 0.0])).unwrap();
        let mut b = one.to_bytes();
        let at = b.len() - 32 - 12;
        assert_eq!(b[at..at + 4], 1.0f32.to_le_bytes());
        b[at..at + 4].copy_from_slice(&2.0f32.to_le_bytes());
        let e = Gallery::from_bytes(&reseal(b)).unwrap_err().to_string();
        assert!(e.contains("unit vector"), "{e}");
    }

    #[test]
    fn version_1_files_still_load_with_ids_in_file_order() {
        let g = sample();
        let old = Gallery::from_bytes(&v1_bytes(&g)).unwrap();
        assert_eq!(old, g, "ids 1, 2 in file order, next id 3: the same as enrolling anew");
        let mut old = old;
        assert_eq!(old.enroll("cy", &e("m", &[0.0, 0.0, 1.0])).unwrap(), PersonId(3));
    }

    #[test]
    fn person_ids_are_stable_across_removal_save_and_load_and_never_reused() {
        let mut g = sample();
        let (ann, bob) = (g.id_of("ann").unwrap(), g.id_of("bob").unwrap());
        assert_eq!((ann, bob), (PersonId(1), PersonId(2)));
        assert!(g.remove("ann"));
        assert_eq!(g.name_of(bob), Some("bob"));
        assert_eq!(g.name_of(ann), None);
        let cy = g.enroll("cy", &e("m", &[0.0, 0.0, 1.0])).unwrap();
        assert_eq!(cy, PersonId(3), "a removed person's id is not given again");
        let mut back = Gallery::from_bytes(&g.to_bytes()).unwrap();
        assert_eq!(back, g);
        assert!(back.remove("cy"));
        assert_eq!(back.enroll("dee", &e("m", &[1.0, 0.0, 0.0])).unwrap(), PersonId(4), "the id counter is saved too");
        let m = &back.search(&e("m", &[0.0, 1.0, 0.0]), 1).unwrap()[0];
        assert_eq!((m.id, m.name.as_str()), (bob, "bob"));
        assert_eq!(back.person(bob).unwrap().metadata, "{\"id\": 7}");
        assert!(back.remove_id(bob) && !back.remove_id(bob));
        assert_eq!(back.people().iter().map(|p| p.id).collect::<Vec<_>>(), [PersonId(4)]);
    }

    #[test]
    fn duplicate_zero_or_stale_ids_in_a_file_are_refused() {
        let g = sample();
        let b = g.to_bytes();
        // Layout: magic 16, version 4, flags 4, space (4 + 1), dim 4, next id 8, people 4, first id 8.
        let next_at = 16 + 8 + 5 + 4;
        let first_id_at = next_at + 8 + 4;
        let mut stale = b.clone();
        stale[next_at..next_at + 8].copy_from_slice(&2u64.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(stale)).unwrap_err().to_string().contains("next person id"));
        let mut zero = b.clone();
        zero[first_id_at..first_id_at + 8].copy_from_slice(&0u64.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(zero)).unwrap_err().to_string().contains("person id"));
        let mut dup = b.clone();
        dup[first_id_at..first_id_at + 8].copy_from_slice(&2u64.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(dup)).unwrap_err().to_string().contains("duplicate person id"));
    }

    #[test]
    fn encrypted_galleries_round_trip_and_refuse_wrong_keys_forgeries_and_substitutions() {
        let g = sample();
        let key = GalleryKey::generate().unwrap();
        let sealed = g.to_encrypted_bytes(&key).unwrap();
        assert_eq!(Gallery::from_encrypted_bytes(&sealed, &key).unwrap(), g);
        // Fresh nonce each time; the names do not appear in the file.
        assert_ne!(sealed, g.to_encrypted_bytes(&key).unwrap());
        assert!(!sealed.windows(3).any(|w| w == b"bob"));
        let key_err = |r: Result<Gallery>| matches!(r, Err(Error::Key { .. }));
        assert!(key_err(Gallery::from_encrypted_bytes(&sealed, &GalleryKey::generate().unwrap())), "wrong key");
        assert!(key_err(Gallery::from_bytes(&sealed)), "no key for an encrypted file");
        assert!(key_err(Gallery::from_encrypted_bytes(&g.to_bytes(), &key)), "plain file where an encrypted one belongs");
        // A byte changed anywhere, checksum recomputed (a forger's move): the AEAD tag refuses it.
        for at in [20, 30, 60, sealed.len() - 40] {
            let mut forged = sealed.clone();
            forged[at] ^= 1;
            assert!(matches!(Gallery::from_encrypted_bytes(&forged, &key), Err(Error::Gallery { .. })), "damage at {at}");
            assert!(key_err(Gallery::from_encrypted_bytes(&reseal(forged), &key)), "forgery at {at}");
        }
        assert!(GalleryKey::from_bytes(&[0; 31]).is_err());
        assert_eq!(format!("{key:?}"), "GalleryKey(<redacted>)");
        let same = GalleryKey::from_bytes(key.as_bytes()).unwrap();
        assert_eq!(Gallery::from_encrypted_bytes(&sealed, &same).unwrap(), g);
    }

    #[test]
    fn encrypted_save_and_load() {
        let dir = temp_dir("sealed");
        let p = dir.join("g.fcg");
        let key = GalleryKey::from_bytes(&[7; 32]).unwrap();
        assert!(Gallery::load_or_new_encrypted(&p, &key).unwrap().is_empty());
        sample().save_encrypted(&p, &key).unwrap();
        assert_eq!(Gallery::load_encrypted(&p, &key).unwrap(), sample());
        assert!(matches!(Gallery::load(&p), Err(Error::Key { .. })));
        assert!(matches!(Gallery::load_encrypted(&p, &GalleryKey::from_bytes(&[8; 32]).unwrap()), Err(Error::Key { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn enroll_refuses_what_the_reader_would_refuse() {
        let mut g = Gallery::new();
        let wide = Embedding::new("space", vec![1.0; MAX_DIM + 1]).unwrap();
        assert!(matches!(g.enroll("a", &wide), Err(Error::InvalidInput { .. })));
        let long_space = Embedding::new("s".repeat(MAX_TEXT_BYTES + 1), vec![1.0, 0.0]).unwrap();
        assert!(matches!(g.enroll("a", &long_space), Err(Error::InvalidInput { .. })));
        assert!(g.is_empty());
        // What it accepts round-trips.
        g.enroll("a", &Embedding::new("space", vec![0.0; MAX_DIM - 1].into_iter().chain([1.0]).collect()).unwrap()).unwrap();
        assert_eq!(Gallery::from_bytes(&g.to_bytes()).unwrap(), g);
    }

    #[test]
    fn concurrent_saves_of_one_path_never_tear() {
        let dir = temp_dir("concurrent");
        let path = dir.join("people.fcg");
        let galleries: Vec<Gallery> = (0..4)
            .map(|t| {
                let mut g = sample();
                g.enroll(&format!("writer {t}"), &e("m", &[0.0, 0.0, 1.0])).unwrap();
                g
            })
            .collect();
        let all = &galleries;
        std::thread::scope(|s| {
            for g in all {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..25 {
                        g.save(path).unwrap();
                        // Whatever is on disk is one whole gallery written by some thread.
                        let back = Gallery::load(path).unwrap();
                        assert!(all.contains(&back));
                    }
                });
            }
        });
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(left.iter().all(|n| !n.contains(".tmp-")), "temporary files left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_private_existing_modes_are_kept_symlinks_are_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("modes");
        let path = dir.join("people.fcg");
        let g = sample();
        g.save(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        g.save(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        // Saving through a symlink replaces its target and keeps the link.
        let link = dir.join("link.fcg");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let mut g2 = g.clone();
        g2.enroll("via link", &e("m", &[0.0, 0.0, 1.0])).unwrap();
        g2.save(&link).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(Gallery::load(&path).unwrap(), g2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn e(space: &str, v: &[f32]) -> Embedding {
        Embedding::new(space, v.to_vec()).unwrap()
    }

    fn sample() -> Gallery {
        let mut g = Gallery::new();
        g.enroll("ann", &e("m", &[1.0, 0.0, 0.0])).unwrap();
        g.enroll("bob", &e("m", &[0.0, 1.0, 0.0])).unwrap();
        g.enroll("ann", &e("m", &[0.9, 0.1, 0.0])).unwrap();
        g.set_metadata("bob", "{\"id\": 7}").unwrap();
        g
    }

    #[test]
    fn search_and_open_set() {
        let g = sample();
        let top = g.search(&e("m", &[1.0, 0.05, 0.0]), 5).unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].name, "ann");
        assert!(top[0].score > top[1].score);
        assert!(matches!(g.identify(&e("m", &[0.0, 0.0, 1.0]), 0.5).unwrap(), Identity::Unknown(_)));
        assert!(matches!(g.identify(&e("m", &[0.0, 1.0, 0.0]), 0.5).unwrap(), Identity::Known(m) if m.name == "bob"));
        assert!(matches!(g.search(&e("other", &[1.0, 0.0, 0.0]), 1), Err(Error::ModelMismatch { .. })));
    }

    #[test]
    fn remove_compacts() {
        let mut g = sample();
        assert!(g.remove("ann"));
        assert!(!g.remove("ann"));
        assert_eq!(g.len(), 1);
        assert_eq!(g.people()[0].embeddings, 1);
        assert_eq!(g.search(&e("m", &[0.0, 1.0, 0.0]), 1).unwrap()[0].name, "bob");
    }

    #[test]
    fn round_trip_and_damage() {
        let g = sample();
        let b = g.to_bytes();
        assert_eq!(Gallery::from_bytes(&b).unwrap(), g);
        for cut in [0, 10, 20, b.len() - 1] {
            assert!(matches!(Gallery::from_bytes(&b[..cut]), Err(Error::Gallery { .. })), "cut {cut}");
        }
        let mut flipped = b.clone();
        flipped[40] ^= 0x55;
        assert!(Gallery::from_bytes(&flipped).unwrap_err().to_string().contains("checksum"));
        assert!(Gallery::from_bytes(b"PK\x03\x04 a zip file, not a gallery").unwrap_err().to_string().contains("magic"));
        let mut newer = b.clone();
        newer[16] = 9;
        assert!(Gallery::from_bytes(&reseal(newer)).unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn atomic_save_and_load() {
        let dir = std::env::temp_dir().join(format!("facecore-gallery-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.fcg");
        assert!(Gallery::load_or_new(&p).unwrap().is_empty());
        sample().save(&p).unwrap();
        assert_eq!(Gallery::load(&p).unwrap(), sample());
        // The gallery and its lock file (kept: removing it would race with other savers).
        let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, [".g.fcg.lock", "g.fcg"], "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
