//! Gallery saves under faults: the process killed mid-save, the file-size limit hit (a full
//! disk as the writer sees it), a directory without write permission.
//!
//! Each case needing a process of its own re-runs this test binary on the one test
//! (`--exact NAME --nocapture`) with `FACECORE_FAULT_CHILD` set, which switches that test
//! into its child role. No `unsafe` here (the workspace forbids it): SIGKILL is
//! `Child::kill`, the file-size limit and the ignored SIGXFSZ are set by `sh` (`ulimit -f`,
//! `trap '' XFSZ`) before it execs the child, and the permission case drops root with
//! `Command::uid`. Every child prints a `FAULT-CHILD` line once its part ran, so a child
//! that matched no test cannot pass unnoticed.
//!
//! `FACECORE_FAULT_KILLS` (default 500) and `FACECORE_FAULT_SEED` (default: from the clock,
//! printed) make a run longer or repeatable.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use facecore::{Embedding, Gallery};

const CHILD: &str = "FACECORE_FAULT_CHILD";
const PATH: &str = "FACECORE_FAULT_PATH";
const DIM: usize = 128;

/// xorshift64*: deterministic, so parent and child build the same galleries from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// A gallery of `people` people with 1-3 random 128-d embeddings each and some metadata.
fn gallery(seed: u64, people: usize) -> Gallery {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut g = Gallery::new();
    for i in 0..people {
        let name = format!("person {seed}-{i}");
        for _ in 0..=rng.below(3) {
            let v: Vec<f32> = (0..DIM).map(|_| rng.unit()).collect();
            g.enroll(&name, &Embedding::new("fault-test-space", v).unwrap()).unwrap();
        }
        if i % 3 == 0 {
            g.set_metadata(&name, &format!("{{\"employee\": {i}, \"seed\": {seed}}}")).unwrap();
        }
    }
    g
}

/// The galleries the kill test writes, in turn: different people, sizes and contents.
fn kill_galleries() -> Vec<Gallery> {
    vec![gallery(1, 300), gallery(2, 350), gallery(3, 400)]
}

fn test_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fault-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// Temporary files of saves of `name` in `dir`, by the pid in their name.
fn temp_files(dir: &Path, name: &str) -> BTreeMap<u32, Vec<String>> {
    let prefix = format!(".{name}.tmp-");
    let mut out: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for n in listing(dir) {
        if let Some(rest) = n.strip_prefix(&prefix) {
            let pid = rest.split('-').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("unexpected temp name {n}"));
            out.entry(pid).or_default().push(n);
        }
    }
    out
}

/// This test binary, run on the one test `name` in child role `role`.
fn child_command(name: &str, role: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", name, "--nocapture", "--test-threads=1"]).env(CHILD, role);
    c
}

fn child_role() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// The text of the child's `FAULT-CHILD what` line (libtest may have written "test NAME ... "
/// before it on the same line).
fn child_report<'a>(stdout: &'a str, what: &str) -> Option<&'a str> {
    let marker = format!("FAULT-CHILD {what}");
    stdout.lines().find_map(|l| l.find(&marker).map(|i| &l[i..]))
}

fn say(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "FAULT-CHILD {line}").and_then(|()| out.flush()).is_ok()
}

// ---------------------------------------------------------------------------------------
// 1. SIGKILL at random moments of a save loop

/// Child: saves the galleries to one path in turn, forever, reporting each completed save.
/// Ends when its stdout is gone (the parent died) rather than looping on.
fn save_loop(path: &Path) {
    let galleries = kill_galleries();
    if !say("ready") {
        return;
    }
    for i in 0.. {
        galleries[i % galleries.len()].save(path).unwrap();
        if !say(&format!("saved {i}")) {
            return;
        }
    }
}

#[test]
fn kill_during_save() {
    if let Some(role) = child_role() {
        assert_eq!(role, "save-loop");
        save_loop(Path::new(&std::env::var_os(PATH).unwrap()));
        return;
    }
    let kills: usize = std::env::var("FACECORE_FAULT_KILLS").ok().map_or(500, |v| v.parse().unwrap());
    let seed: u64 = std::env::var("FACECORE_FAULT_SEED").ok().map_or_else(
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
        |v| v.parse().unwrap(),
    );
    println!("kill_during_save: seed {seed} (FACECORE_FAULT_SEED={seed} repeats the schedule), {kills} kills");
    let mut rng = Rng(seed | 1);
    let galleries = kill_galleries();
    let dir = test_dir("kill");
    let name = "people.fcg";
    let path = dir.join(name);

    // The first save completes before any child runs: from here on the file must always load.
    galleries[0].save(&path).unwrap();
    let sizes: Vec<u64> = galleries.iter().map(|g| g.to_bytes().len() as u64).collect();
    // How long one save takes here, to spread the kills over a few saves' time.
    let t = Instant::now();
    for g in &galleries {
        g.save(&path).unwrap();
    }
    let save_time = (t.elapsed() / galleries.len() as u32).max(Duration::from_micros(200));
    println!("gallery files of {sizes:?} bytes; one save takes about {save_time:?} here");

    let started = Instant::now();
    let (mut mid_write, mut before_first_save, mut saves_seen) = (0usize, 0usize, 0usize);
    let mut seen_on_disk = [0usize; 3];
    // Children since the last one known to have completed a save (its first save removed
    // the temporary files of every earlier one): only they may have temporary files left.
    let mut may_leave: BTreeSet<u32> = BTreeSet::new();
    for k in 0..kills {
        let mut child = child_command("kill_during_save", "save-loop").env(PATH, &path).stdout(Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut saves = 0usize;
        if rng.below(8) == 0 {
            // Anywhere, startup included.
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
        } else {
            // Somewhere in the save loop: wait until it starts, then up to six saves' time.
            let mut line = String::new();
            while out.read_line(&mut line).unwrap() > 0 && !line.contains("FAULT-CHILD ready") {
                line.clear();
            }
            assert!(line.contains("FAULT-CHILD ready"), "child {k} ended before its save loop");
            // (At most 20 ms, so a slow disk does not make the test slow: its saves are
            // long, and most moments fall inside one anyway.)
            let max = (save_time * 6).min(Duration::from_millis(20)).as_micros() as u64;
            std::thread::sleep(Duration::from_micros(rng.below(max)));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "child {k} was not killed but ended: {status}");
        for line in out.lines() {
            saves += usize::from(line.unwrap().contains("FAULT-CHILD saved"));
        }
        saves_seen += saves;

        // The file is always one whole gallery written by someone.
        let back = Gallery::load(&path).unwrap_or_else(|e| panic!("after kill {k} (child {pid}, {saves} saves): {e}"));
        let which = galleries.iter().position(|g| *g == back).unwrap_or_else(|| panic!("after kill {k}: a gallery never written"));
        seen_on_disk[which] += 1;

        if saves > 0 {
            may_leave.clear();
        } else {
            before_first_save += 1;
        }
        may_leave.insert(pid);
        let temps = temp_files(&dir, name);
        for (p, files) in &temps {
            assert!(may_leave.contains(p), "after kill {k}: temporary files of process {p} should have been removed: {files:?}");
            assert_eq!(files.len(), 1, "after kill {k}: one save of process {p} left several files: {files:?}");
        }
        mid_write += usize::from(temps.contains_key(&pid));
        let others: Vec<String> =
            listing(&dir).into_iter().filter(|n| n != name && n != ".people.fcg.lock" && !n.contains(".tmp-")).collect();
        assert!(others.is_empty(), "after kill {k}: unexpected files {others:?}");
    }
    let elapsed = started.elapsed();
    // The next save (here, in this process) removes every leftover of the killed saves.
    galleries[1].save(&path).unwrap();
    assert_eq!(listing(&dir), [".people.fcg.lock", "people.fcg"], "leftovers after a save that follows the kills");
    assert_eq!(Gallery::load(&path).unwrap(), galleries[1]);
    println!(
        "kill_during_save: {kills} SIGKILLs in {elapsed:.1?}: {mid_write} landed mid-write (left their temporary file), \
         {before_first_save} before the child's first save completed; {saves_seen} saves completed in all; \
         the file held gallery 0/1/2 after {seen_on_disk:?} kills, never anything else"
    );
    assert!(mid_write > 0, "no kill landed during a write: the test does not test what it should");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 2. The file-size limit (what a writer sees on a full disk)

/// The process's file-size limit in bytes, from /proc/self/limits.
#[cfg(target_os = "linux")]
fn file_size_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = text.lines().find(|l| l.starts_with("Max file size")).unwrap();
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok())
}

/// Whether SIGXFSZ (25 on Linux) is ignored, from /proc/self/status.
#[cfg(target_os = "linux")]
fn sigxfsz_ignored() -> bool {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = text.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap();
    u64::from_str_radix(mask.trim(), 16).unwrap() & (1 << (25 - 1)) != 0
}

#[cfg(target_os = "linux")]
#[test]
fn disk_full_save_fails_and_keeps_the_old_gallery() {
    let small = gallery(10, 5);
    let big = gallery(11, 300);
    if let Some(role) = child_role() {
        assert_eq!(role, "disk-full");
        let path = PathBuf::from(std::env::var_os(PATH).unwrap());
        let limit = file_size_limit().expect("the file-size limit is not set");
        assert!(sigxfsz_ignored(), "SIGXFSZ is not ignored");
        let big_len = big.to_bytes().len() as u64;
        assert!(limit < big_len, "limit {limit} does not cut the {big_len}-byte gallery");
        let err = big.save(&path).expect_err("a save beyond the file-size limit succeeded");
        assert_eq!(Gallery::load(&path).unwrap(), small, "the old gallery is damaged");
        say(&format!("disk-full: limit {limit} bytes, {big_len}-byte save refused: {err}"));
        return;
    }
    let dir = test_dir("disk-full");
    let path = dir.join("g.fcg");
    small.save(&path).unwrap();
    let small_len = small.to_bytes().len() as u64;
    assert!(small_len < 32 * 1024);
    // 64 blocks: 32 KiB in POSIX sh (512-byte blocks), 64 KiB in bash; the child checks.
    let out = Command::new("sh")
        .args(["-c", "ulimit -f 64 && trap '' XFSZ && exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "disk_full_save_fails_and_keeps_the_old_gallery", "--nocapture", "--test-threads=1"])
        .env(CHILD, "disk-full")
        .env(PATH, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed ({}):\n{stdout}\n{stderr}", out.status);
    let report = child_report(&stdout, "disk-full").unwrap_or_else(|| panic!("the child did not run:\n{stdout}"));
    println!("{report}");
    assert_eq!(Gallery::load(&path).unwrap(), small);
    assert_eq!(listing(&dir), [".g.fcg.lock", "g.fcg"], "a temporary file was left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 3. A directory without write permission

/// Saves `old`, makes the directory read-only, checks that saving `new` fails and changes
/// nothing, for a directory with and without the lock file of an earlier save.
fn readonly_case(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let (old, new) = (gallery(20, 20), gallery(21, 40));
    let path = dir.join("g.fcg");
    old.save(&path).unwrap();
    let set_mode = |mode| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    set_mode(0o555);
    let before = listing(dir);
    let err = new.save(&path);
    let err_fresh = new.save(dir.join("fresh.fcg"));
    let after = listing(dir);
    let loaded = Gallery::load(&path);
    set_mode(0o755);
    let err = err.expect_err("a save into a read-only directory succeeded");
    assert!(err_fresh.is_err(), "a new gallery was created in a read-only directory");
    assert_eq!(loaded.unwrap(), old, "the old gallery is damaged");
    assert_eq!(before, after, "the failed saves left files");
    format!("readonly: save refused: {err}")
}

#[test]
fn readonly_dir_save_fails_and_keeps_the_old_gallery() {
    use std::os::unix::fs::MetadataExt;
    if let Some(role) = child_role() {
        assert_eq!(role, "readonly");
        say(&readonly_case(Path::new(&std::env::var_os(PATH).unwrap())));
        return;
    }
    let dir = test_dir("readonly");
    let root = std::fs::metadata(&dir).unwrap().uid() == 0;
    if !root {
        println!("{}", readonly_case(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    // Permissions do not bind root: run the case as `nobody` in a directory it owns.
    let nobody = 65534;
    let child_dir = dir.join("nobody");
    std::fs::create_dir(&child_dir).unwrap();
    std::os::unix::fs::chown(&child_dir, Some(nobody), Some(nobody)).unwrap();
    let out = child_command("readonly_dir_save_fails_and_keeps_the_old_gallery", "readonly")
        .env(PATH, &child_dir)
        .uid(nobody)
        .gid(nobody)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // The test binary is not reachable for `nobody` (a private checkout).
            println!(
                "SKIP readonly_dir_save_fails_and_keeps_the_old_gallery: running as root, where permissions do not \
                 bind, and uid {nobody} cannot run this test binary: {e}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        Err(e) => panic!("could not run the case as uid {nobody}: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child as uid {nobody} failed ({}):\n{stdout}\n{stderr}", out.status);
    let report = child_report(&stdout, "readonly").unwrap_or_else(|| panic!("the child did not run:\n{stdout}"));
    println!("{report} (as uid {nobody}: this test runs as root, where permissions do not bind)");
    std::fs::remove_dir_all(&dir).unwrap();
}
