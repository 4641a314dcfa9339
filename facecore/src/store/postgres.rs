//! A gallery in PostgreSQL with pgvector (feature `postgres`): one gallery shared by any
//! number of processes and machines, with the semantics of [`FileStore`](super::FileStore).
//!
//! ```no_run
//! # fn main() -> facecore::Result<()> {
//! use facecore::store::GalleryStore;
//! use facecore::store::postgres::PgStore;
//! let store = PgStore::connect("postgres://facecore@db.internal/faces")?;
//! let probe = facecore::Embedding::new("m", vec![1.0, 0.0])?;
//! let id = store.enroll("ann", &probe)?;
//! assert_eq!(store.search(&probe, 5)?[0].id, id);
//! # Ok(()) }
//! ```
//!
//! # Schema (version [`SCHEMA_VERSION`])
//!
//! - `facecore_meta`: one row: `schema_version`, the embedding `space` and `dim` (NULL until
//!   the first enrolment fixes them, as in a file gallery).
//! - `facecore_people`: `id` (bigint identity: given once, never reused, also after
//!   removals), `name` (unique), `metadata` (text), `enrolled` (timestamp). Enrolment order is
//!   id order.
//! - `facecore_templates`: `id`, `person_id` (foreign key, `ON DELETE CASCADE`), `embedding`
//!   (`vector(dim)`: the column is typed by the first enrolment). Several per person.
//! - `facecore_templates_hnsw` (optional, [`PgStore::create_index`]): HNSW on the embeddings
//!   with `vector_ip_ops` (inner product: embeddings are unit vectors, so it ranks as cosine).
//!
//! [`PgStore::connect`] creates the schema in a database that has none (with `CREATE
//! EXTENSION IF NOT EXISTS vector`), checks the version of an existing one and refuses any
//! other version: an older schema is migrated only by an explicit [`PgStore::migrate`], a
//! newer one (written by a later facecore) never.
//!
//! # Search
//!
//! A search fetches candidate templates ordered by inner product with the probe, takes the
//! people they belong to, and re-ranks those people exactly in Rust: each person is scored
//! by their best template with the same dot product as the file gallery (so scores match it
//! bit for bit on the same candidates). Candidates come either from an exact scan (a
//! sequential scan with a top-N sort in the server) or, when the HNSW index exists and the
//! gallery holds at least [`PgOptions::exact_below`] templates, from the index
//! (`hnsw.ef_search` set per query, `hnsw.iterative_scan = relaxed_order`), with
//! [`PgOptions::candidates_per_k`] × k templates fetched.
//!
//! # Concurrency
//!
//! Ids increase in enrolment order. Unlike the file gallery, they may skip values (never
//! repeat one): PostgreSQL spends an identity value on an insert that loses a race (two
//! processes creating one name at once) or fails.
//!
//! Each call is one transaction. Enrolment looks the name up (`FOR KEY SHARE`, so a
//! concurrent removal waits or is seen) and otherwise inserts it with `INSERT ... ON CONFLICT
//! (name) DO NOTHING`: concurrent enrolments of a new name from any number of processes
//! create one person, and every template is kept. The first enrolment of an empty gallery
//! claims the embedding space with a conditional update of the meta row, so two processes
//! enrolling different spaces at once cannot both win.
//!
//! Connections: a small pool (idle connections kept up to [`PgOptions::max_idle`]; more are
//! opened while more threads are busy). No TLS: connect over a trusted network or a local
//! socket.
//!
//! Differences from the file store: names and metadata cannot hold NUL characters (PostgreSQL
//! text cannot), and the HNSW index holds up to 2,000 dimensions (pgvector's limit; larger
//! spaces are searched exactly).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::types::Type;
use ::postgres::{Client, Config, NoTls, Transaction};
use pgvector::Vector;

use super::{GalleryStore, PersonRef};
use crate::embed::{Embedding, dot};
use crate::error::{Error, Result};
use crate::gallery::{MAX_DIM, MAX_NAME_BYTES, MAX_TEXT_BYTES, Match, Person, PersonId};

/// The schema version this facecore reads and writes.
pub const SCHEMA_VERSION: i32 = 1;

/// Steps from schema version `i` to `i + 1`. Step 0 creates the schema; each statement is
/// idempotent, so a step interrupted and run again finishes the job.
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS facecore_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    schema_version integer NOT NULL,
    space text,
    dim integer CHECK (dim BETWEEN 1 AND 4096),
    created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO facecore_meta (schema_version) VALUES (0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS facecore_people (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    metadata text NOT NULL DEFAULT '',
    enrolled timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS facecore_templates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES facecore_people (id) ON DELETE CASCADE,
    embedding vector NOT NULL
);
CREATE INDEX IF NOT EXISTS facecore_templates_person ON facecore_templates (person_id);
"];

/// Key of the advisory lock held while the schema is created or migrated.
const SCHEMA_LOCK: i64 = 0x6661_6365_636f_7265; // "facecore"

const HNSW_INDEX: &str = "facecore_templates_hnsw";

/// Tuning of a [`PgStore`]. The defaults suit galleries of up to a few million templates of
/// 128 to 512 dimensions; `docs/service.md` has the measurements behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct PgOptions {
    /// Galleries with fewer templates than this are searched exactly even when the HNSW index
    /// exists (an exact scan of them is fast enough). Default 50,000.
    pub exact_below: u64,
    /// `hnsw.ef_search`: the index's candidate list per query (raised to the number of
    /// candidates fetched when that is larger). Default 200: at 100k people it finds the
    /// exact top 1 for 98.7% of probes, against 95.8% at 100 (`docs/service.md`).
    pub ef_search: u32,
    /// Templates fetched from the index per requested person, then re-ranked exactly.
    /// Default 10.
    pub candidates_per_k: usize,
    /// HNSW `m` (graph degree) for [`PgStore::create_index`]. Default 16.
    pub m: u32,
    /// HNSW `ef_construction` for [`PgStore::create_index`]. Default 64.
    pub ef_construction: u32,
    /// Idle connections kept in the pool. Default 8.
    pub max_idle: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { exact_below: 50_000, ef_search: 200, candidates_per_k: 10, m: 16, ef_construction: 64, max_idle: 8 }
    }
}

/// How one search finds its candidates ([`PgStore::search_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// The index when it exists and the gallery reaches [`PgOptions::exact_below`]
    /// templates; exact otherwise. What [`GalleryStore::search`] does.
    Auto,
    /// An exact scan of every template.
    Exact,
    /// The HNSW index (exact when there is none).
    Index,
}

/// The PostgreSQL + pgvector store. See the [module docs](self).
pub struct PgStore {
    config: Config,
    desc: String,
    options: PgOptions,
    idle: Mutex<Vec<Client>>,
    /// The embedding space and dimension, once enrolment fixed them (they never change).
    space: OnceLock<(String, usize)>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("server", &self.desc).field("options", &self.options).finish_non_exhaustive()
    }
}

/// A pooled connection, returned to the pool when dropped (unless it broke).
struct Conn<'a> {
    store: &'a PgStore,
    client: Option<Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().unwrap_or_else(|| unreachable!("a connection is taken only on drop"))
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!("a connection is taken only on drop"))
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take().filter(|c| !c.is_closed()) {
            let mut idle = self.store.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < self.store.options.max_idle {
                idle.push(c);
            }
        }
    }
}

fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            ::postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            ::postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("postgres {host}:{port}/{}", config.get_dbname().unwrap_or("postgres"))
}

fn check_text(what: &'static str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::input(what, "contains a NUL character, which PostgreSQL text cannot hold"));
    }
    Ok(())
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or
    /// key=value form) with default [`PgOptions`]. Creates the schema in a database without
    /// one; checks the schema version of an existing one.
    ///
    /// # Errors
    /// [`Error::Io`] (naming the server) when the server cannot be reached or refuses;
    /// [`Error::Gallery`] for a schema of another version (see [`PgStore::migrate`]) or a
    /// malformed URL.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PgOptions::default())
    }

    /// As [`PgStore::connect`], with `options`.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self> {
        let store = Self::open(url, options)?;
        store.ensure_schema(false)?;
        Ok(store)
    }

    /// Brings an older schema up to [`SCHEMA_VERSION`] (or creates it), then connects.
    /// [`PgStore::connect`] never changes an existing schema: migrations run only here, under
    /// an advisory lock, in one transaction (all steps or none). A schema newer than this
    /// facecore is refused.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub fn migrate(url: &str) -> Result<Self> {
        let store = Self::open(url, PgOptions::default())?;
        store.ensure_schema(true)?;
        Ok(store)
    }

    fn open(url: &str, options: PgOptions) -> Result<Self> {
        let config = Config::from_str(url).map_err(|e| Error::Gallery { path: None, detail: format!("bad PostgreSQL URL: {e}") })?;
        let desc = describe(&config);
        Ok(PgStore { config, desc, options, idle: Mutex::new(Vec::new()), space: OnceLock::new() })
    }

    /// The options in force.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    fn err(&self, e: ::postgres::Error) -> Error {
        Error::io(PathBuf::from(&self.desc), std::io::Error::other(e))
    }

    fn schema_err(&self, detail: impl Into<String>) -> Error {
        Error::Gallery { path: Some(PathBuf::from(&self.desc)), detail: detail.into() }
    }

    fn conn(&self) -> Result<Conn<'_>> {
        let pooled = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let client = match pooled {
            Some(c) => c,
            None => self.config.connect(NoTls).map_err(|e| self.err(e))?,
        };
        Ok(Conn { store: self, client: Some(client) })
    }

    fn ensure_schema(&self, migrate: bool) -> Result<()> {
        let mut c = self.conn()?;
        let version = |c: &mut Client| -> Result<Option<i32>> {
            let exists: bool = c.query_one("SELECT to_regclass('facecore_meta') IS NOT NULL", &[]).map_err(|e| self.err(e))?.get(0);
            if !exists {
                return Ok(None);
            }
            let row = c.query_one("SELECT schema_version FROM facecore_meta", &[]).map_err(|e| self.err(e))?;
            Ok(Some(row.get(0)))
        };
        let found = version(&mut c)?;
        if found == Some(SCHEMA_VERSION) {
            return Ok(());
        }
        if let Some(v) = found.filter(|&v| v > SCHEMA_VERSION) {
            return Err(self.schema_err(format!("schema version {v} is newer than this facecore's ({SCHEMA_VERSION}); upgrade facecore")));
        }
        if let (Some(v), false) = (found, migrate) {
            return Err(self.schema_err(format!(
                "schema version {v}, this facecore needs {SCHEMA_VERSION}: call PgStore::migrate to migrate it (back up first)"
            )));
        }
        // No schema (created by connect or migrate), or an older one (migrate only).
        let mut tx = c.transaction().map_err(|e| self.err(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(|e| self.err(e))?;
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").map_err(|e| self.err(e))?;
        // Another process may have done it while we waited for the lock.
        let exists: bool = tx.query_one("SELECT to_regclass('facecore_meta') IS NOT NULL", &[]).map_err(|e| self.err(e))?.get(0);
        let now = if exists {
            tx.query_one("SELECT schema_version FROM facecore_meta", &[]).map_err(|e| self.err(e))?.get::<_, i32>(0)
        } else {
            0
        };
        if now > SCHEMA_VERSION || (now > 0 && now < SCHEMA_VERSION && !migrate) {
            drop(tx);
            drop(c);
            return self.ensure_schema(migrate);
        }
        for (step, sql) in MIGRATIONS.iter().enumerate().skip(now.max(0) as usize) {
            tx.batch_execute(sql).map_err(|e| self.err(e))?;
            tx.execute("UPDATE facecore_meta SET schema_version = $1", &[&(step as i32 + 1)]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// The space and dimension, from the cache or the meta row.
    fn known_space(&self, c: &mut Client) -> Result<Option<(String, usize)>> {
        if let Some(s) = self.space.get() {
            return Ok(Some(s.clone()));
        }
        let row = c.query_one("SELECT space, dim FROM facecore_meta", &[]).map_err(|e| self.err(e))?;
        let space: Option<String> = row.get(0);
        let dim: Option<i32> = row.get(1);
        Ok(match (space, dim) {
            (Some(s), Some(d)) => {
                let v = (s, d as usize);
                let _ = self.space.set(v.clone());
                Some(v)
            }
            _ => None,
        })
    }

    fn mismatch(space: &str, dim: usize, e: &Embedding) -> Option<Error> {
        (space != e.model() || dim != e.dim())
            .then(|| Error::ModelMismatch { left: format!("gallery of {space}"), right: e.model().to_string() })
    }

    /// Checks `e` against the gallery's space, claiming it for `e` when the gallery has none
    /// yet (the claim commits with `tx`).
    fn claim_space(&self, tx: &mut Transaction<'_>, e: &Embedding) -> Result<()> {
        if let Some((s, d)) = self.space.get() {
            return Self::mismatch(s, *d, e).map_or(Ok(()), Err);
        }
        let claimed = tx
            .execute("UPDATE facecore_meta SET space = $1, dim = $2 WHERE space IS NULL", &[&e.model(), &(e.dim() as i32)])
            .map_err(|e| self.err(e))?;
        if claimed == 1 {
            // Type the column now that the dimension is known (the table is empty: nothing
            // can be enrolled before the space is claimed); the HNSW index needs it.
            tx.batch_execute(&format!("ALTER TABLE facecore_templates ALTER COLUMN embedding TYPE vector({})", e.dim()))
                .map_err(|e| self.err(e))?;
            return Ok(());
        }
        let row = tx.query_one("SELECT space, dim FROM facecore_meta", &[]).map_err(|e| self.err(e))?;
        let (s, d): (String, i32) = (row.get(0), row.get(1));
        let _ = self.space.set((s.clone(), d as usize));
        Self::mismatch(&s, d as usize, e).map_or(Ok(()), Err)
    }

    fn check_enrollable(name: &str, e: &Embedding) -> Result<()> {
        if name.trim().is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(Error::input("name", format!("must be non-blank and at most {MAX_NAME_BYTES} bytes")));
        }
        check_text("name", name)?;
        if e.dim() == 0 || e.dim() > MAX_DIM || e.model().is_empty() || e.model().len() > MAX_TEXT_BYTES {
            return Err(Error::input("embedding", format!("a gallery holds 1 to {MAX_DIM} dimensions and a space id of 1 byte to 1 MiB")));
        }
        check_text("embedding space", e.model())
    }

    /// The id of `name`, creating the person if needed, locked against removal until `tx`
    /// ends.
    fn person_id_for(&self, tx: &mut Transaction<'_>, name: &str) -> Result<i64> {
        for _ in 0..64 {
            if let Some(r) =
                tx.query_opt("SELECT id FROM facecore_people WHERE name = $1 FOR KEY SHARE", &[&name]).map_err(|e| self.err(e))?
            {
                return Ok(r.get(0));
            }
            let inserted = tx
                .query_opt("INSERT INTO facecore_people (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id", &[&name])
                .map_err(|e| self.err(e))?;
            if let Some(r) = inserted {
                return Ok(r.get(0));
            }
            // Someone else created the name and committed: the next lookup sees it (unless
            // it was removed again at once: then try to create it again).
        }
        Err(self.schema_err(format!("could not enrol {name:?}: it kept being created and removed by others")))
    }

    /// Adds many new people at once, each with one or more embeddings (repeated names in
    /// `people` are one person), in one transaction through `COPY ... BINARY`: about 20x
    /// faster than one [`GalleryStore::enroll`] per row. Returns the id of each row's person.
    /// Names already enrolled are refused ([`Error::InvalidInput`], nothing is added). Drop the HNSW index
    /// first for large loads and create it afterwards: building it once is faster than
    /// updating it per row.
    ///
    /// # Errors
    /// As [`GalleryStore::enroll`].
    pub fn bulk_enroll(&self, people: &[(&str, &Embedding)]) -> Result<Vec<PersonId>> {
        let Some(first) = people.first() else { return Ok(Vec::new()) };
        for (name, e) in people {
            Self::check_enrollable(name, e)?;
            if e.model() != first.1.model() || e.dim() != first.1.dim() {
                return Err(Error::ModelMismatch { left: first.1.model().to_string(), right: e.model().to_string() });
            }
        }
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.err(e))?;
        self.claim_space(&mut tx, first.1)?;
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE facecore_bulk (ord integer, name text, embedding vector({})) ON COMMIT DROP",
            first.1.dim()
        ))
        .map_err(|e| self.err(e))?;
        let vector_type = tx.prepare("SELECT $1::vector").map_err(|e| self.err(e))?.params()[0].clone();
        {
            let sink = tx.copy_in("COPY facecore_bulk (ord, name, embedding) FROM STDIN (FORMAT binary)").map_err(|e| self.err(e))?;
            let mut w = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT, vector_type]);
            for (i, (name, e)) in people.iter().enumerate() {
                let v = Vector::from(e.as_slice().to_vec());
                w.write(&[&(i as i32), name, &v]).map_err(|e| self.err(e))?;
            }
            w.finish().map_err(|e| self.err(e))?;
        }
        // Refused before anything is inserted, so no id is spent on a failed load.
        if let Some(r) =
            tx.query_opt("SELECT name FROM facecore_bulk JOIN facecore_people USING (name) LIMIT 1", &[]).map_err(|e| self.err(e))?
        {
            return Err(Error::input(
                "name",
                format!("{:?} is already enrolled (bulk_enroll adds new people only)", r.get::<_, String>(0)),
            ));
        }
        // People in the order of their first row; then every row's template.
        tx.batch_execute(
            "INSERT INTO facecore_people (name)
               SELECT name FROM facecore_bulk GROUP BY name ORDER BY min(ord);
             INSERT INTO facecore_templates (person_id, embedding)
               SELECT p.id, b.embedding FROM facecore_bulk b JOIN facecore_people p USING (name) ORDER BY b.ord;",
        )
        .map_err(|e| self.err(e))?;
        let ids = tx
            .query("SELECT p.id FROM facecore_bulk b JOIN facecore_people p USING (name) ORDER BY b.ord", &[])
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| PersonId(r.get::<_, i64>(0) as u64))
            .collect();
        tx.commit().map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// Builds the HNSW index on the templates (`vector_ip_ops`, [`PgOptions::m`],
    /// [`PgOptions::ef_construction`]) unless it exists; returns how long it took. Build
    /// time and memory grow with the gallery: the server's `maintenance_work_mem` should
    /// hold the graph (about 1.2 kB per 128-d template at m = 16) or the build slows down
    /// several times.
    ///
    /// # Errors
    /// [`Error::Gallery`] before the first enrolment (the dimension is not known yet);
    /// [`Error::Io`] from the server (e.g. over 2,000 dimensions).
    pub fn create_index(&self) -> Result<Duration> {
        let mut c = self.conn()?;
        if self.known_space(&mut c)?.is_none() {
            return Err(self.schema_err("no embedding space yet: enrol someone before creating the index"));
        }
        let t = Instant::now();
        c.batch_execute(&format!(
            "CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON facecore_templates USING hnsw (embedding vector_ip_ops) \
             WITH (m = {}, ef_construction = {}); ANALYZE facecore_templates",
            self.options.m, self.options.ef_construction
        ))
        .map_err(|e| self.err(e))?;
        Ok(t.elapsed())
    }

    /// Drops the HNSW index (searches are exact again); whether it existed.
    ///
    /// # Errors
    /// [`Error::Io`] from the server.
    pub fn drop_index(&self) -> Result<bool> {
        let mut c = self.conn()?;
        let had = Self::has_index(&self.err_fn(), &mut *c)?;
        c.batch_execute(&format!("DROP INDEX IF EXISTS {HNSW_INDEX}")).map_err(|e| self.err(e))?;
        Ok(had)
    }

    /// Whether the HNSW index exists.
    ///
    /// # Errors
    /// [`Error::Io`] from the server.
    pub fn has_hnsw_index(&self) -> Result<bool> {
        let mut c = self.conn()?;
        Self::has_index(&self.err_fn(), &mut *c)
    }

    fn err_fn(&self) -> impl Fn(::postgres::Error) -> Error + '_ {
        move |e| self.err(e)
    }

    fn has_index(err: &impl Fn(::postgres::Error) -> Error, c: &mut impl ::postgres::GenericClient) -> Result<bool> {
        Ok(c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&HNSW_INDEX]).map_err(err)?.get(0))
    }

    /// As [`GalleryStore::search`], with the candidates found as `mode` says.
    ///
    /// # Errors
    /// As [`GalleryStore::search`].
    pub fn search_with(&self, probe: &Embedding, k: usize, mode: SearchMode) -> Result<Vec<Match>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut c = self.conn()?;
        let Some((space, dim)) = self.known_space(&mut c)? else { return Ok(Vec::new()) };
        if let Some(e) = Self::mismatch(&space, dim, probe) {
            // As the file gallery: an empty gallery answers nobody, whatever the probe.
            let n: i64 =
                c.query_one("SELECT count(*) FROM (SELECT 1 FROM facecore_people LIMIT 1) x", &[]).map_err(|e| self.err(e))?.get(0);
            return if n == 0 { Ok(Vec::new()) } else { Err(e) };
        }
        let mut tx = c.build_transaction().read_only(true).start().map_err(|e| self.err(e))?;
        let use_index = match mode {
            SearchMode::Exact => false,
            SearchMode::Index => Self::has_index(&self.err_fn(), &mut tx)?,
            SearchMode::Auto => {
                let row = tx
                    .query_one(
                        "SELECT to_regclass($1) IS NOT NULL, (SELECT reltuples FROM pg_class WHERE oid = 'facecore_templates'::regclass)",
                        &[&HNSW_INDEX],
                    )
                    .map_err(|e| self.err(e))?;
                let (indexed, rows): (bool, f32) = (row.get(0), row.get(1));
                // reltuples is -1 before the first ANALYZE: trust the index the user built.
                indexed && (rows < 0.0 || rows as u64 >= self.options.exact_below)
            }
        };
        let v = Vector::from(probe.as_slice().to_vec());
        let mut limit = if use_index { k.saturating_mul(self.options.candidates_per_k.max(1)) } else { (k * 4).max(k + 32) };
        if use_index {
            let ef = (self.options.ef_search as usize).max(limit).min(1000);
            tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order"))
                .map_err(|e| self.err(e))?;
        } else {
            tx.batch_execute("SET LOCAL enable_indexscan = off").map_err(|e| self.err(e))?;
        }
        let candidates = loop {
            let rows = tx
                .query(
                    "SELECT person_id FROM facecore_templates ORDER BY embedding <#> $1 LIMIT $2",
                    &[&v, &(limit.min(i64::MAX as usize) as i64)],
                )
                .map_err(|e| self.err(e))?;
            let mut ids: Vec<i64> = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: i64 = r.get(0);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            // Fewer than k people among the templates fetched, and more templates to fetch:
            // fetch more (people with many templates, or an exact scan's first round).
            if ids.len() >= k || rows.len() < limit {
                break ids;
            }
            limit = limit.saturating_mul(4);
        };
        let rows = tx
            .query(
                "SELECT t.person_id, p.name, t.embedding FROM facecore_templates t JOIN facecore_people p ON p.id = t.person_id
                 WHERE t.person_id = ANY($1)",
                &[&candidates],
            )
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        let mut best: Vec<Match> = Vec::with_capacity(candidates.len());
        for r in &rows {
            let id = PersonId(r.get::<_, i64>(0) as u64);
            let e: Vector = r.get(2);
            let s = dot(e.as_slice(), probe.as_slice());
            match best.iter_mut().find(|m| m.id == id) {
                Some(m) => m.score = m.score.max(s),
                None => best.push(Match { id, name: r.get(1), score: s }),
            }
        }
        best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        best.truncate(k);
        Ok(best)
    }

    fn person_row(r: &::postgres::Row) -> Person {
        Person { id: PersonId(r.get::<_, i64>(0) as u64), name: r.get(1), metadata: r.get(2), embeddings: r.get::<_, i64>(3) as usize }
    }
}

impl GalleryStore for PgStore {
    fn space(&self) -> Result<Option<String>> {
        let mut c = self.conn()?;
        Ok(self.known_space(&mut c)?.map(|(s, _)| s))
    }

    fn len(&self) -> Result<usize> {
        let mut c = self.conn()?;
        let n: i64 = c.query_one("SELECT count(*) FROM facecore_people", &[]).map_err(|e| self.err(e))?.get(0);
        Ok(n as usize)
    }

    fn enroll(&self, name: &str, embedding: &Embedding) -> Result<PersonId> {
        Self::check_enrollable(name, embedding)?;
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.err(e))?;
        self.claim_space(&mut tx, embedding)?;
        let id = self.person_id_for(&mut tx, name)?;
        let v = Vector::from(embedding.as_slice().to_vec());
        tx.execute("INSERT INTO facecore_templates (person_id, embedding) VALUES ($1, $2)", &[&id, &v]).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(PersonId(id as u64))
    }

    fn set_metadata(&self, person: PersonRef<'_>, metadata: &str) -> Result<()> {
        if metadata.len() > MAX_TEXT_BYTES {
            return Err(Error::input("metadata", "over 1 MiB"));
        }
        check_text("metadata", metadata)?;
        let mut c = self.conn()?;
        let n = match person {
            PersonRef::Id(id) => c.execute("UPDATE facecore_people SET metadata = $2 WHERE id = $1", &[&(id.0 as i64), &metadata]),
            PersonRef::Name(name) => c.execute("UPDATE facecore_people SET metadata = $2 WHERE name = $1", &[&name, &metadata]),
        }
        .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::input("person", format!("{person:?} is not enrolled")));
        }
        Ok(())
    }

    fn remove(&self, person: PersonRef<'_>) -> Result<bool> {
        let mut c = self.conn()?;
        let n = match person {
            PersonRef::Id(id) => c.execute("DELETE FROM facecore_people WHERE id = $1", &[&(id.0 as i64)]),
            PersonRef::Name(name) => c.execute("DELETE FROM facecore_people WHERE name = $1", &[&name]),
        }
        .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    fn person(&self, person: PersonRef<'_>) -> Result<Option<Person>> {
        const SELECT: &str =
            "SELECT p.id, p.name, p.metadata, (SELECT count(*) FROM facecore_templates t WHERE t.person_id = p.id) FROM facecore_people p";
        let mut c = self.conn()?;
        let row = match person {
            PersonRef::Id(id) => c.query_opt(&format!("{SELECT} WHERE p.id = $1"), &[&(id.0 as i64)]),
            PersonRef::Name(name) => c.query_opt(&format!("{SELECT} WHERE p.name = $1"), &[&name]),
        }
        .map_err(|e| self.err(e))?;
        Ok(row.as_ref().map(Self::person_row))
    }

    fn people(&self, offset: usize, limit: usize) -> Result<Vec<Person>> {
        let mut c = self.conn()?;
        let clamp = |n: usize| n.min(i64::MAX as usize) as i64;
        let rows = c
            .query(
                "SELECT p.id, p.name, p.metadata, (SELECT count(*) FROM facecore_templates t WHERE t.person_id = p.id)
                 FROM facecore_people p ORDER BY p.id OFFSET $1 LIMIT $2",
                &[&clamp(offset), &clamp(limit)],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(Self::person_row).collect())
    }

    fn search(&self, probe: &Embedding, k: usize) -> Result<Vec<Match>> {
        self.search_with(probe, k, SearchMode::Auto)
    }

    fn describe(&self) -> String {
        self.desc.clone()
    }
}
