//! One suite of gallery-store semantics, run against every store: the file store always, the
//! PostgreSQL + pgvector store with `--features postgres` and a server in `FACECORE_PG_URL`
//! (`scripts/pg-test-server.sh start` prints one). Each PostgreSQL test works in a database of
//! its own, created and dropped here (the URL's user needs CREATEDB).
//!
//! Without a server the PostgreSQL tests skip with a loud message; with
//! `FACECORE_REQUIRE_PG=1` (CI's PostgreSQL step sets it) they fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, missing_docs)]

use facecore::store::{FileStore, GalleryStore, PersonRef};
use facecore::{Embedding, Error, Gallery};

/// A deterministic unit embedding of `dim` values in `space`.
fn emb(space: &str, dim: usize, seed: u64) -> Embedding {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v = (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    Embedding::new(space, v).unwrap()
}

/// `base` moved a little towards another random direction: a second photo of one person.
fn near(base: &Embedding, seed: u64, amount: f32) -> Embedding {
    let n = emb(base.model(), base.dim(), seed);
    Embedding::new(base.model(), base.as_slice().iter().zip(n.as_slice()).map(|(a, b)| a + amount * b).collect()).unwrap()
}

/// What one call answered, comparable across stores (scores within 1e-5).
#[derive(Debug, Clone)]
#[allow(dead_code)] // fields are compared through Debug in `same`
enum Out {
    Id(u64),
    Bool(bool),
    Count(usize),
    Space(Option<String>),
    People(Vec<(u64, String, String, usize)>),
    Person(Option<(u64, String, String, usize)>),
    Matches(Vec<(u64, String, f32)>),
    Known(Option<u64>),
    Unit,
    Err(&'static str),
}

fn same(a: &Out, b: &Out) -> bool {
    match (a, b) {
        (Out::Matches(x), Out::Matches(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.0 == q.0 && p.1 == q.1 && (p.2 - q.2).abs() <= 1e-5)
        }
        _ => format!("{a:?}") == format!("{b:?}"),
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::ModelMismatch { .. } => "ModelMismatch",
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Gallery { .. } => "Gallery",
        Error::Io { .. } => "Io",
        _ => "other",
    }
}

fn out<T>(r: facecore::Result<T>, f: impl FnOnce(T) -> Out) -> Out {
    match r {
        Ok(v) => f(v),
        Err(e) => Out::Err(kind(&e)),
    }
}

fn people(v: Vec<facecore::Person>) -> Out {
    Out::People(v.into_iter().map(|p| (p.id.0, p.name, p.metadata, p.embeddings)).collect())
}

fn person(p: Option<facecore::Person>) -> Out {
    Out::Person(p.map(|p| (p.id.0, p.name, p.metadata, p.embeddings)))
}

fn matches(v: Vec<facecore::Match>) -> Out {
    Out::Matches(v.into_iter().map(|m| (m.id.0, m.name, m.score)).collect())
}

/// The shared suite: every operation of [`GalleryStore`], with the answers the file gallery
/// defines asserted on the way; returns the transcript for comparison between stores.
fn suite(s: &dyn GalleryStore) -> Vec<(String, Out)> {
    let mut t: Vec<(String, Out)> = Vec::new();
    let mut rec = |what: &str, o: Out| {
        t.push((what.to_string(), o.clone()));
        o
    };
    let (d, m) = (16, "space-a");
    // Empty.
    assert!(matches!(rec("space", out(s.space(), Out::Space)), Out::Space(None)));
    assert!(matches!(rec("len", out(s.len(), Out::Count)), Out::Count(0)));
    assert!(matches!(rec("is_empty", out(s.is_empty(), Out::Bool)), Out::Bool(true)));
    rec("search empty", out(s.search(&emb(m, d, 1), 5), matches));
    rec("search empty other space", out(s.search(&emb("space-b", 8, 1), 5), matches));
    rec("people empty", out(s.people(0, 10), people));
    rec("person none", out(s.person(PersonRef::Name("ann")), person));
    assert!(matches!(rec("remove none", out(s.remove(PersonRef::Name("ann")), Out::Bool)), Out::Bool(false)));
    // Enrolment: ids 1, 2, 3 in order; a second embedding keeps the id.
    let (ann1, bob1, cy1) = (emb(m, d, 10), emb(m, d, 20), emb(m, d, 30));
    assert!(matches!(rec("enroll ann", out(s.enroll("ann", &ann1), |i| Out::Id(i.0))), Out::Id(1)));
    assert!(matches!(rec("enroll bob", out(s.enroll("bob", &bob1), |i| Out::Id(i.0))), Out::Id(2)));
    assert!(matches!(rec("enroll ann 2", out(s.enroll("ann", &near(&ann1, 11, 0.3)), |i| Out::Id(i.0))), Out::Id(1)));
    assert!(matches!(rec("enroll cy", out(s.enroll("cy", &cy1), |i| Out::Id(i.0))), Out::Id(3)));
    rec("enroll ann 3", out(s.enroll("ann", &near(&ann1, 12, 0.5)), |i| Out::Id(i.0)));
    // Refusals change nothing.
    assert!(matches!(rec("other space", out(s.enroll("dan", &emb("space-b", d, 1)), |i| Out::Id(i.0))), Out::Err("ModelMismatch")));
    assert!(matches!(rec("other dim", out(s.enroll("dan", &emb(m, d + 1, 1)), |i| Out::Id(i.0))), Out::Err("ModelMismatch")));
    assert!(matches!(rec("blank name", out(s.enroll("  ", &emb(m, d, 1)), |i| Out::Id(i.0))), Out::Err("InvalidInput")));
    assert!(matches!(rec("long name", out(s.enroll(&"x".repeat(1025), &emb(m, d, 1)), |i| Out::Id(i.0))), Out::Err("InvalidInput")));
    assert!(matches!(rec("space set", out(s.space(), Out::Space)), Out::Space(Some(ref x)) if x == m));
    assert!(matches!(rec("len 3", out(s.len(), Out::Count)), Out::Count(3)));
    // Listing, in enrolment order, with pages.
    let listed = rec("people", out(s.people(0, 10), people));
    assert!(matches!(&listed, Out::People(p) if p.iter().map(|x| (x.0, x.3)).collect::<Vec<_>>() == [(1, 3), (2, 1), (3, 1)]));
    rec("people page", out(s.people(1, 1), people));
    rec("people past the end", out(s.people(5, 10), people));
    rec("people huge limit", out(s.people(0, usize::MAX), people));
    // Metadata.
    rec("meta bob by id", out(s.set_metadata(PersonRef::Id(facecore::PersonId(2)), "{\"badge\": 7}"), |()| Out::Unit));
    rec("meta ann by name", out(s.set_metadata(PersonRef::Name("ann"), "ünïcode ✓"), |()| Out::Unit));
    assert!(matches!(rec("meta unknown", out(s.set_metadata(PersonRef::Name("zed"), "x"), |()| Out::Unit)), Out::Err("InvalidInput")));
    assert!(matches!(
        rec("meta unknown id", out(s.set_metadata(PersonRef::Id(facecore::PersonId(99)), "x"), |()| Out::Unit)),
        Out::Err("InvalidInput")
    ));
    let big = "m".repeat((1 << 20) + 1);
    assert!(matches!(rec("meta too big", out(s.set_metadata(PersonRef::Name("bob"), &big), |()| Out::Unit)), Out::Err("InvalidInput")));
    let bob = rec("person bob", out(s.person(PersonRef::Name("bob")), person));
    assert!(matches!(&bob, Out::Person(Some(p)) if p.2 == "{\"badge\": 7}"));
    rec("person ann by id", out(s.person(PersonRef::Id(facecore::PersonId(1))), person));
    // Search: top-k, each person by their best embedding; identify.
    for (i, probe) in [near(&ann1, 40, 0.2), near(&bob1, 41, 0.2), near(&cy1, 42, 0.6), emb(m, d, 43)].iter().enumerate() {
        for k in [0, 1, 2, 5] {
            rec(&format!("search {i} k{k}"), out(s.search(probe, k), matches));
        }
        for th in [-1.0, 0.5, 0.99] {
            rec(&format!("identify {i} {th}"), out(s.identify(probe, th), |r| Out::Known(known(&r))));
        }
    }
    let top = rec("search ann", out(s.search(&near(&ann1, 40, 0.2), 5), matches));
    assert!(matches!(&top, Out::Matches(v) if v.len() == 3 && v[0].0 == 1 && v[0].2 >= v[1].2 && v[1].2 >= v[2].2));
    // The score is the best of ann's three embeddings.
    let exact = ann1.similarity(&ann1).unwrap();
    assert!(matches!(&rec("search self", out(s.search(&ann1, 1), matches)), Out::Matches(v) if (v[0].2 - exact).abs() < 1e-6));
    assert!(matches!(rec("search other space", out(s.search(&emb("space-b", d, 1), 3), matches)), Out::Err("ModelMismatch")));
    assert!(matches!(rec("search other dim", out(s.search(&emb(m, 8, 1), 3), matches)), Out::Err("ModelMismatch")));
    assert!(matches!(rec("identify other space", out(s.identify(&emb("space-b", d, 1), 0.0), |r| Out::Known(known(&r)))), Out::Err(_)));
    // Removal: ids are never given again.
    assert!(matches!(rec("remove ann", out(s.remove(PersonRef::Name("ann")), Out::Bool)), Out::Bool(true)));
    assert!(matches!(rec("remove ann again", out(s.remove(PersonRef::Id(facecore::PersonId(1))), Out::Bool)), Out::Bool(false)));
    assert!(matches!(rec("person removed", out(s.person(PersonRef::Id(facecore::PersonId(1))), person)), Out::Person(None)));
    assert!(matches!(rec("enroll dee", out(s.enroll("dee", &emb(m, d, 50)), |i| Out::Id(i.0))), Out::Id(4)));
    assert!(matches!(rec("enroll ann anew", out(s.enroll("ann", &ann1), |i| Out::Id(i.0))), Out::Id(5)));
    assert!(matches!(rec("remove bob by id", out(s.remove(PersonRef::Id(facecore::PersonId(2))), Out::Bool)), Out::Bool(true)));
    let after = rec("people after removals", out(s.people(0, 10), people));
    assert!(matches!(&after, Out::People(p) if p.iter().map(|x| x.0).collect::<Vec<_>>() == [3, 4, 5]));
    rec("search after removals", out(s.search(&near(&ann1, 40, 0.2), 5), matches));
    // A larger gallery: 300 people, some with several embeddings; top-10 of 25 probes.
    let base: Vec<Embedding> = (0..300).map(|i| emb(m, d, 1000 + i)).collect();
    for (i, e) in base.iter().enumerate() {
        rec(&format!("bulk {i}"), out(s.enroll(&format!("p{i:03}"), e), |i| Out::Id(i.0)));
        if i % 7 == 0 {
            rec(&format!("bulk {i} again"), out(s.enroll(&format!("p{i:03}"), &near(e, 5000 + i as u64, 0.4)), |i| Out::Id(i.0)));
        }
    }
    for (j, i) in (0..300).step_by(12).enumerate() {
        let top = rec(&format!("top10 {j}"), out(s.search(&near(&base[i], 9000 + i as u64, 0.3), 10), matches));
        assert!(matches!(&top, Out::Matches(v) if v.len() == 10 && v[0].1 == format!("p{i:03}")), "{top:?}");
    }
    rec("people middle page", out(s.people(100, 5), people));
    assert!(matches!(rec("len 303", out(s.len(), Out::Count)), Out::Count(303)));
    // Everyone removed: the space stays, searches answer nobody.
    let everyone: Vec<_> = s.people(0, usize::MAX).unwrap().into_iter().map(|p| p.id).collect();
    for id in everyone {
        assert!(s.remove(PersonRef::Id(id)).unwrap());
    }
    assert!(matches!(rec("len 0", out(s.len(), Out::Count)), Out::Count(0)));
    assert!(matches!(rec("space kept", out(s.space(), Out::Space)), Out::Space(Some(_))));
    assert!(matches!(rec("search emptied", out(s.search(&ann1, 3), matches)), Out::Matches(ref v) if v.is_empty()));
    assert!(
        matches!(rec("search emptied other space", out(s.search(&emb("space-b", 8, 1), 3), matches)), Out::Matches(ref v) if v.is_empty())
    );
    assert!(matches!(rec("enroll after all removed", out(s.enroll("eve", &emb(m, d, 60)), |i| Out::Id(i.0))), Out::Id(306)));
    assert!(matches!(
        rec("other space still refused", out(s.enroll("fay", &emb("space-b", d, 1)), |i| Out::Id(i.0))),
        Out::Err("ModelMismatch")
    ));
    t
}

fn known(r: &facecore::Identity) -> Option<u64> {
    match r {
        facecore::Identity::Known(m) => Some(m.id.0),
        facecore::Identity::Unknown(_) => None,
    }
}

fn compare(a: &[(String, Out)], b: &[(String, Out)], names: (&str, &str)) {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f32;
    for ((wa, oa), (wb, ob)) in a.iter().zip(b) {
        assert_eq!(wa, wb);
        assert!(same(oa, ob), "{wa}: {} answered {oa:?}, {} answered {ob:?}", names.0, names.1);
        if let (Out::Matches(x), Out::Matches(y)) = (oa, ob) {
            worst = x.iter().zip(y).map(|(p, q)| (p.2 - q.2).abs()).fold(worst, f32::max);
        }
    }
    eprintln!("{} and {} agree on {} calls (largest score difference {worst:e})", names.0, names.1, a.len());
}

#[test]
fn file_store_follows_the_suite() {
    let mem = suite(&FileStore::in_memory(Gallery::new()));
    let dir = std::env::temp_dir().join(format!("facecore-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = suite(&FileStore::open(dir.join("g.fcg"), None).unwrap());
    compare(&mem, &file, ("memory", "file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Eight threads enrolling shared and own names into one store: every call answers, shared
/// names are one person each with every embedding, own names one person each.
fn hammer(s: &dyn GalleryStore, tag: &str, rounds: usize) -> Vec<(String, u64)> {
    let shared: Vec<String> = (0..20).map(|i| format!("shared-{i:02}")).collect();
    let out = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for t in 0..8u64 {
            let (shared, out) = (&shared, &out);
            sc.spawn(move || {
                let mut mine = Vec::new();
                for r in 0..rounds {
                    for (i, name) in shared.iter().enumerate() {
                        let e = emb("space-a", 16, 1 + t * 100_000 + (r * 100 + i) as u64);
                        mine.push((name.clone(), s.enroll(name, &e).unwrap().0));
                    }
                    let own = format!("{tag}-t{t}-r{r}");
                    mine.push((own.clone(), s.enroll(&own, &emb("space-a", 16, 7 + t * 1000 + r as u64)).unwrap().0));
                }
                out.lock().unwrap().extend(mine);
            });
        }
    });
    out.into_inner().unwrap()
}

/// Checks the store after `calls` enrolments by `workers` hammers.
fn check_hammered(s: &dyn GalleryStore, calls: &[(String, u64)], workers: usize, rounds: usize) {
    let mut ids: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for (name, id) in calls {
        let prev = ids.insert(name, *id);
        assert!(prev.is_none_or(|p| p == *id), "{name} got ids {prev:?} and {id}: a duplicated person");
    }
    let people = s.people(0, usize::MAX).unwrap();
    assert_eq!(people.len(), 20 + workers * 8 * rounds, "people");
    let mut seen = std::collections::HashSet::new();
    for p in &people {
        assert!(seen.insert(p.id), "id {} twice", p.id);
        assert_eq!(ids.get(p.name.as_str()), Some(&p.id.0), "{} has another id than enrolment returned", p.name);
        let expected = if p.name.starts_with("shared-") { workers * 8 * rounds } else { 1 };
        assert_eq!(p.embeddings, expected, "{}: embeddings lost or duplicated", p.name);
    }
    assert_eq!(people.iter().map(|p| p.embeddings).sum::<usize>(), calls.len(), "every enrolment is kept");
}

#[test]
fn file_store_concurrent_enrolment_loses_nothing() {
    let s = FileStore::in_memory(Gallery::new());
    let calls = hammer(&s, "file", 3);
    check_hammered(&s, &calls, 1, 3);
}

/// The server for the PostgreSQL tests, or `None` (with a loud message) to skip them.
fn pg_url(test: &str) -> Option<String> {
    let required = std::env::var("FACECORE_REQUIRE_PG").is_ok_and(|v| v == "1");
    let why = if !cfg!(feature = "postgres") {
        "built without the `postgres` feature (cargo test -p facecore --features postgres)"
    } else {
        match std::env::var("FACECORE_PG_URL") {
            Ok(u) if !u.is_empty() => return Some(u),
            _ => "FACECORE_PG_URL is not set (export FACECORE_PG_URL=$(scripts/pg-test-server.sh start))",
        }
    };
    if required {
        panic!("FACECORE_REQUIRE_PG=1 but {test} cannot run: {why}");
    }
    // Straight to stderr, past the harness's capture: a skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {why} ***\n");
    None
}

#[test]
fn postgres_store_follows_the_suite_like_the_file_store() {
    let Some(url) = pg_url("postgres_store_follows_the_suite_like_the_file_store") else { return };
    pg::suite_against_file(&url);
}

#[test]
fn postgres_concurrent_enrolment_from_two_processes_loses_nothing() {
    let Some(url) = pg_url("postgres_concurrent_enrolment_from_two_processes_loses_nothing") else { return };
    pg::two_processes(&url);
}

#[test]
fn postgres_schema_versions_and_migrations() {
    let Some(url) = pg_url("postgres_schema_versions_and_migrations") else { return };
    pg::schema_versions(&url);
}

#[test]
fn postgres_hnsw_index_and_bulk_enrolment() {
    let Some(url) = pg_url("postgres_hnsw_index_and_bulk_enrolment") else { return };
    pg::hnsw_and_bulk(&url);
}

/// The second process of the two-process test: runs only when re-executed by it.
#[test]
fn postgres_concurrent_child() {
    if let Ok(url) = std::env::var("FACECORE_PG_CHILD_URL") {
        pg::child(&url);
    }
}

#[cfg(not(feature = "postgres"))]
mod pg {
    pub fn suite_against_file(_: &str) {}
    pub fn two_processes(_: &str) {}
    pub fn schema_versions(_: &str) {}
    pub fn hnsw_and_bulk(_: &str) {}
    pub fn child(_: &str) {}
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use facecore::store::postgres::{PgOptions, PgStore, SearchMode};

    /// A new, empty database named after `tag` on the server of `url`; its URL.
    fn fresh_db(url: &str, tag: &str) -> String {
        let name = format!("facecore_test_{tag}_{}", std::process::id());
        let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
        let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
        format!("{root}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default())
    }

    fn drop_db(url: &str, db_url: &str) {
        let name = db_url.rsplit_once('/').map(|(_, n)| n.split('?').next().unwrap_or(n)).unwrap();
        let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    }

    pub fn suite_against_file(url: &str) {
        let db = fresh_db(url, "suite");
        let store = PgStore::connect(&db).unwrap();
        assert!(store.describe().starts_with("postgres "));
        let pg = suite(&store);
        let file = suite(&FileStore::in_memory(Gallery::new()));
        compare(&file, &pg, ("file store", "PostgreSQL store"));
        // A second connection (another worker) sees the same gallery.
        let other = PgStore::connect(&db).unwrap();
        assert_eq!(other.people(0, 100).unwrap(), store.people(0, 100).unwrap());
        assert_eq!(other.space().unwrap().as_deref(), Some("space-a"));
        // What PostgreSQL text cannot hold is refused up front.
        assert!(matches!(store.enroll("nul\0name", &emb("space-a", 16, 1)), Err(Error::InvalidInput { .. })));
        drop((store, other));
        drop_db(url, &db);
    }

    pub fn two_processes(url: &str) {
        let db = fresh_db(url, "concurrent");
        let _ = PgStore::connect(&db).unwrap();
        let rounds = 4;
        // The second process: this test binary again, running only the child test.
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "postgres_concurrent_child", "--nocapture", "--test-threads=1"])
            .env("FACECORE_PG_CHILD_URL", &db)
            .env("FACECORE_PG_CHILD_ROUNDS", rounds.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let store = PgStore::connect(&db).unwrap();
        let t = std::time::Instant::now();
        let mut calls = hammer(&store, "parent", rounds);
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "the child process failed");
        let text = String::from_utf8(output.stdout).unwrap();
        let before = calls.len();
        // The harness prints "test NAME ... " before the test's output, on the same line.
        calls.extend(text.lines().filter_map(|l| l.find("ENROLLED ").map(|at| &l[at + 9..])).map(|l| {
            let (id, name) = l.split_once(' ').unwrap();
            (name.to_string(), id.parse().unwrap())
        }));
        assert_eq!(calls.len(), before * 2, "the child reports every enrolment");
        check_hammered(&store, &calls, 2, rounds);
        eprintln!("{} enrolments by 2 processes x 8 threads in {:.2?}: none lost, no person duplicated", calls.len(), t.elapsed());
        drop(store);
        drop_db(url, &db);
    }

    pub fn child(db: &str) {
        let rounds = std::env::var("FACECORE_PG_CHILD_ROUNDS").unwrap().parse().unwrap();
        let store = PgStore::connect(db).unwrap();
        for (name, id) in hammer(&store, "child", rounds) {
            println!("ENROLLED {id} {name}");
        }
    }

    pub fn schema_versions(url: &str) {
        let db = fresh_db(url, "schema");
        let store = PgStore::connect(&db).unwrap();
        store.enroll("ann", &emb("s", 4, 1)).unwrap();
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        let version = |c: &mut postgres::Client| c.query_one("SELECT schema_version FROM facecore_meta", &[]).unwrap().get::<_, i32>(0);
        assert_eq!(version(&mut c), facecore::store::postgres::SCHEMA_VERSION);
        // A newer schema: refused by connect and by migrate.
        c.execute("UPDATE facecore_meta SET schema_version = 99", &[]).unwrap();
        let e = PgStore::connect(&db).unwrap_err();
        assert!(matches!(e, Error::Gallery { .. }) && e.to_string().contains("newer"), "{e}");
        assert!(PgStore::migrate(&db).is_err());
        // An older one: refused by connect, which names migrate; migrate brings it up.
        c.execute("UPDATE facecore_meta SET schema_version = 0", &[]).unwrap();
        let e = PgStore::connect(&db).unwrap_err();
        assert!(e.to_string().contains("PgStore::migrate"), "{e}");
        assert_eq!(version(&mut c), 0, "connect changed nothing");
        let migrated = PgStore::migrate(&db).unwrap();
        assert_eq!(version(&mut c), facecore::store::postgres::SCHEMA_VERSION);
        assert_eq!(migrated.person(PersonRef::Name("ann")).unwrap().unwrap().embeddings, 1, "data kept");
        // Unreachable servers and bad URLs are errors naming the server, not panics.
        assert!(matches!(PgStore::connect("postgres://nobody@127.0.0.1:1/none"), Err(Error::Io { .. })));
        assert!(matches!(PgStore::connect("postgres://[::1"), Err(Error::Gallery { .. })));
        drop((store, migrated, c));
        drop_db(url, &db);
    }

    pub fn hnsw_and_bulk(url: &str) {
        let db = fresh_db(url, "hnsw");
        // The index from 0 templates on, so Auto uses it here.
        let store = PgStore::connect_with(&db, PgOptions { exact_below: 0, ..PgOptions::default() }).unwrap();
        assert!(matches!(store.create_index(), Err(Error::Gallery { .. })), "no dimension before the first enrolment");
        let d = 64;
        let base: Vec<Embedding> = (0..3000).map(|i| emb("s", d, 100 + i)).collect();
        let names: Vec<String> = (0..3000).map(|i| format!("p{i}")).collect();
        let mut rows: Vec<(&str, &Embedding)> = names.iter().map(String::as_str).zip(&base).collect();
        // A repeated name is one person with two templates.
        let extra = near(&base[5], 1, 0.3);
        rows.push(("p5", &extra));
        let ids = store.bulk_enroll(&rows).unwrap();
        assert_eq!(ids.len(), 3001);
        assert_eq!((ids[0].0, ids[2999].0, ids[3000]), (1, 3000, ids[5]), "ids in order of first appearance");
        assert_eq!(store.person(PersonRef::Name("p5")).unwrap().unwrap().embeddings, 2);
        assert!(matches!(store.bulk_enroll(&[("p1", &base[1])]), Err(Error::InvalidInput { .. })), "names already enrolled are refused");
        assert!(matches!(store.bulk_enroll(&[("q", &emb("other", d, 1))]), Err(Error::ModelMismatch { .. })));
        assert_eq!(store.len().unwrap(), 3000, "a refused bulk adds nobody");
        // enroll() and bulk agree on what comes next.
        assert_eq!(store.enroll("late", &emb("s", d, 99)).unwrap().0, 3001);
        assert!(!store.has_hnsw_index().unwrap());
        let built = store.create_index().unwrap();
        assert!(store.has_hnsw_index().unwrap());
        let (mut same_top1, mut same_top5, n) = (0, 0, 200);
        for i in 0..n {
            let probe = near(&base[i * 15], 7000 + i as u64, 0.4);
            let exact = store.search_with(&probe, 5, SearchMode::Exact).unwrap();
            let ann = store.search_with(&probe, 5, SearchMode::Index).unwrap();
            let auto = store.search(&probe, 5).unwrap();
            assert_eq!(auto, ann, "Auto uses the index over exact_below");
            assert_eq!(exact[0].name, format!("p{}", i * 15));
            same_top1 += usize::from(ann[0].id == exact[0].id);
            same_top5 += ann.iter().filter(|m| exact.iter().any(|e| e.id == m.id)).count();
            // Re-ranked exactly: a hit's score is its exact score.
            for m in &ann {
                if let Some(e) = exact.iter().find(|e| e.id == m.id) {
                    assert_eq!(m.score, e.score);
                }
            }
        }
        eprintln!("HNSW on 3,001 templates (built in {built:.2?}): top-1 as exact {same_top1}/{n}, recall@5 {}/{}", same_top5, n * 5);
        assert!(same_top1 >= n * 98 / 100 && same_top5 >= n * 5 * 95 / 100);
        // Removal reaches indexed searches too.
        assert!(store.remove(PersonRef::Name("p0")).unwrap());
        assert!(store.search_with(&base[0], 3, SearchMode::Index).unwrap().iter().all(|m| m.name != "p0"));
        assert!(store.drop_index().unwrap() && !store.has_hnsw_index().unwrap());
        drop(store);
        drop_db(url, &db);
    }
}
