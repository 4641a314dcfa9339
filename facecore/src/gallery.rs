//! Galleries of enrolled people: 1:N search and a single-file, checksummed store.
//!
//! File format (little endian), version 1:
//! `"FACECORE-GALLERY"` (16 bytes) · u32 version · u32 flags (0) · u32 len + UTF-8 embedding
//! space id · u32 dim · u32 people · per person: u32 len + UTF-8 name, u32 len + UTF-8
//! metadata, u32 count, count x dim f32 · SHA-256 of all preceding bytes (32 bytes).
//! Readers check the checksum first: a damaged file is reported as damaged, not as a newer
//! version; unknown versions and flags are refused only once the file is known to be intact.
//! Saves go through [`crate::persist`]: an exclusive temporary file in the same directory,
//! synced and renamed over the old one (a crash leaves the old or the new gallery, never a
//! torn one), one save at a time per path (in the process and, by an advisory lock, across
//! processes), mode 0600 for new files, symlinks followed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::embed::{Embedding, dot};
use crate::error::{Error, Result};

const MAGIC: &[u8; 16] = b"FACECORE-GALLERY";
const VERSION: u32 = 1;
const MAX_DIM: usize = 4096;
const MAX_TEXT: usize = 1 << 20;

/// One enrolled person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
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

/// People with one or more embeddings each, all from one embedding space.
///
/// Two galleries are equal when they hold the same people, in the same order, with the same
/// embeddings each (row storage order does not matter).
#[derive(Debug, Clone, Default)]
pub struct Gallery {
    space: Option<Arc<str>>,
    dim: usize,
    names: Vec<String>,
    metadata: Vec<String>,
    /// Embeddings, row-major, `dim` floats each.
    vectors: Vec<f32>,
    /// Owner (index into `names`) of each embedding row.
    owner: Vec<u32>,
    /// Name -> index into `names`, so enrolment and lookups stay O(1) at a million people.
    index: HashMap<String, u32>,
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
        self.space == o.space && self.dim == o.dim && self.names == o.names && self.metadata == o.metadata && same_rows()
    }
}

fn gerr(path: Option<&Path>, detail: impl Into<String>) -> Error {
    Error::Gallery { path: path.map(Path::to_path_buf), detail: detail.into() }
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
        let mut counts = vec![0usize; self.names.len()];
        for &o in &self.owner {
            counts[o as usize] += 1;
        }
        (0..self.names.len())
            .map(|i| Person { name: self.names[i].clone(), metadata: self.metadata[i].clone(), embeddings: counts[i] })
            .collect()
    }

    /// Embedding rows of each person, in row order.
    fn rows_by_person(&self) -> Vec<Vec<usize>> {
        let mut rows = vec![Vec::new(); self.names.len()];
        for (r, &o) in self.owner.iter().enumerate() {
            rows[o as usize].push(r);
        }
        rows
    }

    fn push_person(&mut self, name: String, metadata: String) -> u32 {
        let idx = self.names.len() as u32;
        self.index.insert(name.clone(), idx);
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

    /// Adds an embedding to `name`, creating the person if needed.
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] when the embedding is from another space than the gallery,
    /// [`Error::InvalidInput`] for an empty or over-long name.
    pub fn enroll(&mut self, name: &str, embedding: &Embedding) -> Result<()> {
        if name.trim().is_empty() || name.len() > 1024 {
            return Err(Error::input("name", "must be non-blank and at most 1024 bytes"));
        }
        // What the reader accepts, the writer must too: never save a gallery that cannot load.
        if embedding.dim() == 0 || embedding.dim() > MAX_DIM || embedding.model().is_empty() || embedding.model().len() > MAX_TEXT {
            return Err(Error::input("embedding", format!("a gallery holds 1 to {MAX_DIM} dimensions and a space id of 1 byte to 1 MiB")));
        }
        self.check_space(embedding)?;
        if self.space.is_none() {
            self.space = Some(embedding.model().into());
            self.dim = embedding.dim();
        }
        let idx = match self.index.get(name) {
            Some(&i) => i,
            None => self.push_person(name.to_string(), String::new()),
        };
        self.vectors.extend_from_slice(embedding.as_slice());
        self.owner.push(idx);
        Ok(())
    }

    /// Sets a person's metadata.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown name or metadata over 1 MiB.
    pub fn set_metadata(&mut self, name: &str, metadata: &str) -> Result<()> {
        if metadata.len() > MAX_TEXT {
            return Err(Error::input("metadata", "over 1 MiB"));
        }
        let i = *self.index.get(name).ok_or_else(|| Error::input("name", format!("{name:?} is not enrolled")))?;
        self.metadata[i as usize] = metadata.to_string();
        Ok(())
    }

    /// Removes a person and all their embeddings; returns whether they were enrolled.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(&i) = self.index.get(name) else { return false };
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
        self.names.remove(i as usize);
        self.metadata.remove(i as usize);
        self.index.remove(name);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        true
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
        let mut best = vec![f32::NEG_INFINITY; self.names.len()];
        for (row, v) in self.vectors.chunks_exact(self.dim).enumerate() {
            let s = dot(v, probe.as_slice());
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
        Ok(order.into_iter().map(|i| Match { name: self.names[i].clone(), score: best[i] }).collect())
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

    /// Serialises to the versioned, checksummed format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.vectors.len() * 4);
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        put_str(&mut b, self.space.as_deref().unwrap_or(""));
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        b.extend_from_slice(&(self.names.len() as u32).to_le_bytes());
        for (i, rows) in self.rows_by_person().into_iter().enumerate() {
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

    /// Parses a gallery file held in memory.
    ///
    /// # Errors
    /// [`Error::Gallery`] for a foreign, truncated, damaged or newer-version file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, None)
    }

    fn parse(bytes: &[u8], path: Option<&Path>) -> Result<Self> {
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
        if version != VERSION {
            return Err(gerr(path, format!("format version {version}, this facecore reads version {VERSION}")));
        }
        let flags = r.u32()?;
        if flags != 0 {
            return Err(gerr(path, format!("unknown flags {flags:#x} (written by a newer facecore)")));
        }
        let space = r.string()?;
        let dim = r.u32()? as usize;
        let people = r.u32()? as usize;
        if dim > MAX_DIM || (people > 0 && (dim == 0 || space.is_empty())) {
            return Err(gerr(path, format!("implausible header (dim {dim}, {people} people)")));
        }
        let mut g = Gallery { space: (!space.is_empty()).then(|| space.as_str().into()), dim, ..Gallery::default() };
        for _ in 0..people {
            let name = r.string()?;
            let meta = r.string()?;
            if name.is_empty() || g.index.contains_key(&name) {
                return Err(gerr(path, format!("empty or duplicate name {name:?}")));
            }
            let n = r.u32()? as usize;
            let floats = r.take(n.checked_mul(dim).and_then(|x| x.checked_mul(4)).ok_or_else(|| gerr(path, "size overflow"))?)?;
            let idx = g.names.len() as u32;
            g.index.insert(name.clone(), idx);
            for row in floats.chunks_exact(dim * 4) {
                let v: Vec<f32> = row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                let e = Embedding::new(space.as_str(), v).map_err(|_| gerr(path, "invalid embedding values"))?;
                g.vectors.extend_from_slice(e.as_slice());
                g.owner.push(idx);
            }
            g.names.push(name);
            g.metadata.push(meta);
        }
        if r.pos != body.len() {
            return Err(gerr(path, "trailing bytes after the last person"));
        }
        Ok(g)
    }

    /// Reads a gallery file.
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable (a missing file is `is_not_found()`), [`Error::Gallery`]
    /// if damaged.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, Some(path))
    }

    /// Reads a gallery file, or starts an empty gallery when the file does not exist.
    ///
    /// # Errors
    /// As [`Gallery::load`], except for a missing file.
    pub fn load_or_new(path: impl AsRef<Path>) -> Result<Self> {
        match Self::load(path) {
            Err(e) if e.is_not_found() => Ok(Gallery::new()),
            other => other,
        }
    }

    /// Writes the gallery atomically: an exclusive temporary file beside `path`, synced, then
    /// renamed over it. Concurrent saves of one path (threads, processes) take turns; a new
    /// file gets mode 0600, an existing one keeps its mode; a symlink is followed.
    ///
    /// # Errors
    /// [`Error::Io`] on any file-system failure; the previous file is then left intact.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if path.file_name().is_none() {
            return Err(Error::input("gallery path", format!("{} has no file name", path.display())));
        }
        crate::persist::write_atomic(path, &self.to_bytes()).map_err(|e| Error::io(path, e))
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
    fn string(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        if n > MAX_TEXT {
            return Err(gerr(self.path, "string too long"));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| gerr(self.path, "name is not UTF-8"))
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
        let mut v2 = b.clone();
        v2[16..20].copy_from_slice(&2u32.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(v2)).unwrap_err().to_string().contains("version 2"));
        let mut flags = b.clone();
        flags[20..24].copy_from_slice(&1u32.to_le_bytes());
        assert!(Gallery::from_bytes(&reseal(flags)).unwrap_err().to_string().contains("unknown flags"));
    }

    #[test]
    fn enroll_refuses_what_the_reader_would_refuse() {
        let mut g = Gallery::new();
        let wide = Embedding::new("space", vec![1.0; MAX_DIM + 1]).unwrap();
        assert!(matches!(g.enroll("a", &wide), Err(Error::InvalidInput { .. })));
        let long_space = Embedding::new("s".repeat(MAX_TEXT + 1), vec![1.0, 0.0]).unwrap();
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
