"""facecore.Gallery.connect: a gallery in PostgreSQL + pgvector answers exactly like an in-memory
gallery and its file, and is shared by every Gallery connected to the same database, in this
process and in others.

Needs a real server: FACECORE_PG_URL (``export FACECORE_PG_URL=$(scripts/pg-test-server.sh
start)``). Without it every test here is skipped with the reason printed; with
FACECORE_REQUIRE_PG=1 (CI) they fail instead. Each test gets a database of its own, created
and dropped through psycopg with the URL's credentials, so ids start at 1 and nothing else's
people are seen.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from conftest import FIXTURES, ROOT

import facecore

PG_URL = os.environ.get("FACECORE_PG_URL")
SPACE = "dlib-resnet-v1"  # the "fast" preset's space


def need_pg() -> str:
    """The server's URL; a loud skip without one, a failure when FACECORE_REQUIRE_PG=1."""
    if PG_URL:
        return PG_URL
    reason = (
        "FACECORE_PG_URL is not set: the PostgreSQL gallery tests need a server "
        "(export FACECORE_PG_URL=$(scripts/pg-test-server.sh start))"
    )
    if os.environ.get("FACECORE_REQUIRE_PG") == "1":
        pytest.fail(f"{reason}; FACECORE_REQUIRE_PG=1 requires them to run")
    print(f"\n*** SKIP: {reason} ***", file=sys.stderr)
    pytest.skip(reason)


def with_db(url: str, db: str) -> str:
    """`url` pointing at database `db` (URL or key=value form)."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{db}"))
    return f"{url} dbname={db}"


_counter = itertools.count()


@pytest.fixture
def db() -> Iterator[str]:
    """A fresh, empty database on the server; dropped afterwards."""
    url = need_pg()
    try:
        import psycopg
    except ImportError:
        pytest.fail("psycopg is needed to create the test databases (scripts/python-tests.sh installs it)")
    name = f"facecore_py_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield with_db(url, name)
    finally:
        gc.collect()  # galleries of the test close their connections
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- real embeddings ------------------------------------------------------------------------


def best(pipe: facecore.Pipeline, image: str) -> np.ndarray:
    """The embedding of the most confident face in `image`."""
    face = pipe.embed_best(image)
    assert face is not None and face.embedding is not None
    return face.embedding


@pytest.fixture(scope="module")
def faces() -> dict[str, np.ndarray]:
    """The `fast` preset's embeddings of every face in the fixtures: obama (two photos and a
    small one), biden, the two people of two_people.jpg, the astronaut."""
    pipe = facecore.Pipeline("fast")
    out: dict[str, np.ndarray] = {}
    for name in ("obama.jpg", "obama2.jpg", "obama_small.jpg", "biden.jpg", "astronaut.png"):
        out[name.split(".")[0]] = best(pipe, str(FIXTURES / name))
    two = sorted(pipe.analyze(str(FIXTURES / "two_people.jpg")), key=lambda f: f.bbox[0])
    assert len(two) == 2
    assert two[0].embedding is not None and two[1].embedding is not None
    out["left"], out["right"] = two[0].embedding, two[1].embedding
    assert all(e.shape == (128,) for e in out.values())
    return out


@pytest.fixture(scope="module")
def sface_obama() -> np.ndarray:
    """An embedding of another space (SFace) with the same length."""
    e = best(facecore.Pipeline("sface"), str(FIXTURES / "obama.jpg"))
    assert e.shape == (128,)
    return e


# --- one script of operations, run on each gallery ------------------------------------------


def plain(v: Any) -> Any:
    """A result as plain data (exceptions as their class name), for comparison."""
    if isinstance(v, facecore.Match):
        return ("Match", v.id, v.name, v.score)
    if isinstance(v, facecore.Person):
        return ("Person", v.id, v.name, v.metadata, v.embeddings)
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def record(out: list[tuple[str, Any]], label: str, f: Callable[[], Any]) -> None:
    try:
        v = plain(f())
    except Exception as e:  # noqa: BLE001 - the class is the answer being compared
        v = ("raises", type(e).__name__)
    out.append((label, v))


def queries(g: facecore.Gallery, E: dict[str, np.ndarray], out: list[tuple[str, Any]]) -> None:
    """Read-only questions, asked of the live galleries and of the file reloaded."""
    record(out, "len", lambda: len(g))
    record(out, "space", lambda: g.space)
    record(out, "people", lambda: g.people())
    record(out, "people[1:3]", lambda: g.people(offset=1, limit=2))
    record(out, "people[100:]", lambda: g.people(offset=100))
    for probe in sorted(E):
        for k in (1, 3, 10):
            record(out, f"search {probe} k={k}", lambda p=probe, k=k: g.search(E[p], k=k))
        record(out, f"identify {probe}", lambda p=probe: g.identify(E[p]))
        record(out, f"identify {probe} fmr1e-4", lambda p=probe: g.identify(E[p], operating_point="fmr1e-4"))
        record(out, f"identify {probe} 0.99", lambda p=probe: g.identify(E[p], threshold=0.99))
    for who in ("obama", "biden", "astronaut", "left", "nobody", 1, 2, 3, 5, 6, 999, -1, 2**70):
        record(out, f"person {who!r}", lambda w=who: g.person(w))
        record(out, f"in {who!r}", lambda w=who: w in g)
    for name in ("obama", "left", "right", "nobody"):
        record(out, f"id_of {name}", lambda n=name: g.id_of(n))
    record(out, "in True", lambda: True in g)
    record(out, "in 1.5", lambda: 1.5 in g)


def script(g: facecore.Gallery, E: dict[str, np.ndarray], sface: np.ndarray) -> list[tuple[str, Any]]:
    """Every operation of the Gallery API, in an order that exercises ids, removal, metadata,
    several templates per person, errors and the space check; the answers, in order."""
    out: list[tuple[str, Any]] = []
    queries(g, E, out)  # empty
    record(out, "enroll obama", lambda: g.enroll("obama", E["obama"]))
    record(out, "enroll biden", lambda: g.enroll("biden", E["biden"]))
    record(out, "enroll left", lambda: g.enroll("left", E["left"]))
    record(out, "enroll right", lambda: g.enroll("right", E["right"]))
    record(out, "enroll obama again", lambda: g.enroll("obama", E["obama2"]))
    record(out, "enroll astronaut", lambda: g.enroll("astronaut", E["astronaut"], space=SPACE))
    queries(g, E, out)
    record(out, "metadata biden", lambda: g.set_metadata("biden", '{"badge": 7}'))
    record(out, "metadata id 5", lambda: g.set_metadata(5, "émigré ✓"))
    record(out, "metadata nobody", lambda: g.set_metadata("nobody", "x"))
    record(out, "metadata id 999", lambda: g.set_metadata(999, "x"))
    record(out, "metadata bool", lambda: g.set_metadata(True, "x"))
    record(out, "remove left", lambda: g.remove("left"))
    record(out, "remove left again", lambda: g.remove("left"))
    record(out, "remove id 4 (right)", lambda: g.remove(4))
    record(out, "remove -1", lambda: g.remove(-1))
    record(out, "remove 2**70", lambda: g.remove(2**70))
    record(out, "remove True", lambda: g.remove(True))
    record(out, "remove 1.5", lambda: g.remove(1.5))  # type: ignore[arg-type]
    queries(g, E, out)
    # A removed name comes back as a new person: ids are never reused.
    record(out, "enroll left again", lambda: g.enroll("left", E["left"]))
    record(out, "enroll small obama", lambda: g.enroll("obama", E["obama_small"]))
    # Refused, and nothing changes.
    record(out, "enroll other space", lambda: g.enroll("sface obama", sface, space="facecore-sface-2021dec"))
    record(out, "enroll other space (sface id)", lambda: g.enroll("sface obama", sface, space="sface-2021dec"))
    record(out, "enroll blank name", lambda: g.enroll("   ", E["biden"]))
    record(out, "enroll long name", lambda: g.enroll("x" * 5000, E["biden"]))
    record(out, "enroll wrong length", lambda: g.enroll("short", E["biden"][:64] / np.linalg.norm(E["biden"][:64])))
    record(out, "enroll zero vector", lambda: g.enroll("zero", np.zeros(128, np.float32)))
    record(out, "enroll nan", lambda: g.enroll("nan", np.full(128, np.nan, np.float32)))
    record(out, "search wrong length", lambda: g.search(E["biden"][:64] / np.linalg.norm(E["biden"][:64])))
    record(out, "search k=0", lambda: g.search(E["biden"], k=0))
    record(out, "search 2d", lambda: g.search(np.stack([E["biden"], E["obama"]])))
    record(out, "identify bad op", lambda: g.identify(E["biden"], operating_point="fmr1e-9"))
    record(out, "metadata over 1 MiB", lambda: g.set_metadata("biden", "x" * ((1 << 20) + 1)))
    queries(g, E, out)
    return out


def assert_same(a: list[tuple[str, Any]], b: list[tuple[str, Any]]) -> None:
    """Equal answers; scores within 1e-5 (both re-rank with the same dot product: in practice
    bit-identical)."""
    assert [label for label, _ in a] == [label for label, _ in b]

    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, abs_tol=1e-5)
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            return type(x) is type(y) and len(x) == len(y) and all(same(p, q) for p, q in zip(x, y))
        return bool(x == y)

    diffs = [(label, x, y) for (label, x), (_, y) in zip(a, b) if not same(x, y)]
    assert not diffs, "answers differ:\n" + "\n".join(f"  {lbl}: {x!r} != {y!r}" for lbl, x, y in diffs[:20])


def test_same_answers_as_the_file_gallery(
    db: str, faces: dict[str, np.ndarray], sface_obama: np.ndarray, tmp_path: Path
) -> None:
    mem = facecore.Gallery(space=SPACE)
    pg = facecore.Gallery.connect(db, space=SPACE)
    assert mem.store == "memory" and pg.store.startswith("postgres ")
    a = script(mem, faces, sface_obama)
    b = script(pg, faces, sface_obama)
    assert_same(a, b)
    # The file the in-memory gallery writes answers the same again, as does a second
    # connection to the database.
    mem.save(tmp_path / "g.fcg")
    c: list[tuple[str, Any]] = []
    d: list[tuple[str, Any]] = []
    queries(facecore.Gallery.load(tmp_path / "g.fcg"), faces, c)
    queries(facecore.Gallery.connect(db), faces, d)
    assert_same(c, d)
    # What was compared is not trivial: people, several templates, removals, errors.
    answers = dict(b)
    assert answers["enroll obama again"] == 1 and answers["enroll left again"] == 6
    assert answers["remove id 4 (right)"] is True and answers["enroll blank name"] == ("raises", "InvalidInputError")
    assert answers["enroll other space (sface id)"] == ("raises", "ModelMismatchError")
    assert answers["identify obama2"][2] == "obama" and answers["identify biden"][2] == "biden"
    assert [p[2] for p in answers["people"]] == ["obama", "biden", "astronaut", "left"]
    assert sum(1 for _, v in b if v == ("raises", "InvalidInputError")) >= 8
    refused = sum(1 for _, v in b if isinstance(v, tuple) and v[0] == "raises")
    print(f"\nGallery.connect vs file gallery: {len(b)} answers equal, {refused} of them exceptions")


# --- shared by every connection -------------------------------------------------------------


def test_two_connections_see_each_other_at_once(db: str, faces: dict[str, np.ndarray]) -> None:
    a = facecore.Gallery.connect(db, space=SPACE)
    b = facecore.Gallery.connect(db)
    assert b.space is None and len(b) == 0
    pid = a.enroll("obama", faces["obama"])
    m = b.identify(faces["obama2"])
    assert m is not None and (m.id, m.name) == (pid, "obama")
    assert b.space == SPACE and "obama" in b and pid in b
    b.set_metadata(pid, '{"desk": 12}')
    person = a.person("obama")
    assert person is not None and person.metadata == '{"desk": 12}'
    # b enrols a second photo: a's search scores obama by his best template.
    assert b.enroll("obama", faces["obama_small"]) == pid
    person = a.person(pid)
    assert person is not None and person.embeddings == 2
    assert b.remove("obama") and a.identify(faces["obama2"]) is None and len(a) == 0 and a.search(faces["obama"]) == []
    # Enrolled again, the name gets a new id, seen by both.
    pid2 = a.enroll("obama", faces["obama"])
    assert pid2 > pid and b.id_of("obama") == pid2


CHILD = textwrap.dedent(
    """
    import sys, threading, numpy as np, facecore
    url, tag, path, space = sys.argv[1:5]
    e = np.load(path)
    g = facecore.Gallery.connect(url, space=space)
    print("ready", flush=True)
    sys.stdin.readline()  # start together with the parent
    ids, errors = {}, []
    def work(t):
        try:
            for i in range(5):
                ids[("shared", t, i)] = g.enroll("shared", e[(t + i) % len(e)])
                ids[("own", t, i)] = g.enroll(f"{tag}-{t}", e[(t * 3 + i) % len(e)])
        except Exception as x:
            errors.append(repr(x))
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(errors or sorted(set(ids.values())), flush=True)
    sys.exit(1 if errors else 0)
    """
)


def test_two_processes_enrolling_at_once_lose_and_duplicate_nothing(
    db: str, faces: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """8 threads in 2 processes (4 here, 4 in a child) enrol a shared name and their own names
    at once; then every enrolment is there, each name once."""
    E = np.stack([faces[k] for k in sorted(faces)])
    np.save(tmp_path / "e.npy", E)
    g = facecore.Gallery.connect(db, space=SPACE)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db, "child", str(tmp_path / "e.npy"), SPACE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    ids: dict[tuple[str, int, int], int] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(5):
                ids[("shared", t, i)] = g.enroll("shared", E[(t + i) % len(E)])
                ids[("own", t, i)] = g.enroll(f"parent-{t}", E[(t * 3 + i) % len(E)])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    child.stdin.write("go\n")
    child.stdin.flush()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out, _ = child.communicate(timeout=120)
    assert not errors and child.returncode == 0, (errors, out)
    people = {p.name: p for p in g.people()}
    assert sorted(people) == sorted(["shared"] + [f"parent-{t}" for t in range(4)] + [f"child-{t}" for t in range(4)])
    assert people["shared"].embeddings == 40  # 2 processes x 4 threads x 5
    assert all(people[n].embeddings == 5 for n in people if n != "shared")
    # Every id this process was given names the person it was given for.
    assert {ids[("shared", t, i)] for t in range(4) for i in range(5)} == {people["shared"].id}
    assert all(ids[("own", t, i)] == people[f"parent-{t}"].id for t in range(4) for i in range(5))
    child_ids = set(eval(out.strip().splitlines()[-1]))  # noqa: S307 - our child's list of ints
    assert child_ids == {people["shared"].id} | {people[f"child-{t}"].id for t in range(4)}


def serve_unavailable(reason: str) -> None:
    if os.environ.get("FACECORE_REQUIRE_PG") == "1":
        pytest.fail(f"{reason}; FACECORE_REQUIRE_PG=1 requires this test to run")
    print(f"\n*** SKIP: {reason} ***", file=sys.stderr)
    pytest.skip(reason)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "image/jpeg"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_python_and_facecore_serve_share_one_gallery(db: str, faces: dict[str, np.ndarray]) -> None:
    """A `facecore serve` process on the same database as a Python Gallery.connect: each sees
    the other's enrolments and removals at once. The server is the CLI of this checkout
    (FACECORE_CLI, else target/debug/facecore), built with the `postgres` feature (.ci/run's
    PostgreSQL step builds it so before running this module)."""
    cli = Path(os.environ.get("FACECORE_CLI", ROOT / "target" / "debug" / "facecore"))
    if not cli.is_file():
        serve_unavailable(f"no facecore CLI at {cli} (cargo build -p facecore-cli --features postgres)")
    g = facecore.Gallery.connect(db, space=SPACE)
    pid = g.enroll("obama", faces["obama"])
    server = subprocess.Popen(
        [str(cli), "serve", "--listen", "127.0.0.1:0", "--gallery", db, "--preset", "fast", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        line = server.stdout.readline()  # after the models are loaded and the gallery opened
        if "listening on http://" not in line:
            server.kill()
            err = server.stderr.read()
            if "without PostgreSQL support" in err:
                serve_unavailable(f"{cli} was built without the postgres feature")
            pytest.fail(f"facecore serve did not start: {line!r} {err[-2000:]}")
        base = line.strip().rsplit(" ", 1)[-1]
        # Enrolled through Python, identified through the server.
        status, body = http("POST", f"{base}/v1/identify", (FIXTURES / "obama2.jpg").read_bytes())
        assert status == 200 and [(f["name"], f["id"]) for f in body["faces"]] == [("obama", pid)], body
        # Enrolled through the server, identified through Python.
        status, body = http("POST", f"{base}/v1/people/biden", (FIXTURES / "biden.jpg").read_bytes())
        assert status == 201, body
        m = g.identify(faces["biden"])
        assert m is not None and (m.id, m.name) == (body["id"], "biden") and len(g) == 2
        # Removed through Python: the server no longer names him.
        assert g.remove("obama")
        status, body = http("POST", f"{base}/v1/identify", (FIXTURES / "obama2.jpg").read_bytes())
        assert status == 200 and [f["name"] for f in body["faces"]] == [None], body
        # Removed through the server: gone for Python.
        status, _ = http("DELETE", f"{base}/v1/people/biden")
        assert status == 204 and len(g) == 0 and g.identify(faces["biden"]) is None
    finally:
        server.terminate()
        server.wait(timeout=60)


# --- what only a database gallery does ------------------------------------------------------


def test_pipeline_enrolls_into_postgres(db: str) -> None:
    pipe = facecore.Pipeline("fast")
    g = facecore.Gallery.connect(db)
    pid = pipe.enroll(g, "obama", str(FIXTURES / "obama.jpg"))
    assert g.space == pipe.space == SPACE
    probe = best(pipe, str(FIXTURES / "obama2.jpg"))
    m = g.identify(probe)
    assert m is not None and (m.id, m.name) == (pid, "obama")
    with pytest.raises(facecore.ModelMismatchError):
        facecore.Pipeline("sface").enroll(g, "obama", str(FIXTURES / "obama.jpg"))
    with pytest.raises(facecore.InvalidInputError, match="no face"):
        pipe.enroll(g, "nobody", np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(facecore.LowQualityError):
        pipe.enroll(g, "small", str(FIXTURES / "camera.png"))
    assert len(g) == 1


def test_file_operations_and_streams_are_refused(db: str, faces: dict[str, np.ndarray], tmp_path: Path) -> None:
    g = facecore.Gallery.connect(db, space=SPACE)
    g.enroll("obama", faces["obama"])
    with pytest.raises(facecore.GalleryError, match="commits every change"):
        g.save(tmp_path / "g.fcg")
    assert not (tmp_path / "g.fcg").exists()
    with pytest.raises(facecore.GalleryError, match="commits every change"):
        g.to_bytes()
    with pytest.raises(facecore.InvalidInputError, match="in-memory"):
        facecore.Stream(facecore.Pipeline("fast"), g)
    stream = facecore.Stream(facecore.Pipeline("fast"))
    with pytest.raises(facecore.InvalidInputError, match="in-memory"):
        stream.set_gallery(g)
    # PostgreSQL text cannot hold NUL characters: refused, not truncated.
    with pytest.raises(facecore.InvalidInputError, match="NUL"):
        g.enroll("a\0b", faces["biden"])
    with pytest.raises(facecore.InvalidInputError, match="NUL"):
        g.set_metadata("obama", "a\0b")
    assert len(g) == 1


def test_connect_errors(db: str, faces: dict[str, np.ndarray]) -> None:
    g = facecore.Gallery.connect(db, space=SPACE)
    g.enroll("obama", faces["obama"])
    with pytest.raises(facecore.ModelMismatchError):
        facecore.Gallery.connect(db, space="sface-2021dec")
    with pytest.raises(facecore.GalleryError, match="bad PostgreSQL URL"):
        facecore.Gallery.connect("postgres://[::1")
    with pytest.raises(TypeError):
        facecore.Gallery.connect(5)  # type: ignore[arg-type]
    # Nothing listens on a port just closed: refused at once, naming the server.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = time.monotonic()
    with pytest.raises(facecore.FacecoreIOError, match=f"127.0.0.1:{port}/nodb") as e:
        facecore.Gallery.connect(f"postgres://someone:hunter22@127.0.0.1:{port}/nodb")
    assert "hunter22" not in str(e.value) and time.monotonic() - t < 10
    assert isinstance(e.value, OSError)
    # The password appears in no description.
    parts = urlsplit(db)
    with_pw = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:hunter22@{parts.hostname}:{parts.port}"))
    h = facecore.Gallery.connect(with_pw)  # the test server trusts local connections
    assert len(h) == 1 and "hunter22" not in h.store + repr(h)
    assert repr(h) == f"Gallery(store={h.store!r})".replace("'", '"')


def test_schema_versions(db: str, faces: dict[str, np.ndarray]) -> None:
    """connect never changes an existing schema: an older one is migrated only with
    migrate=True, a newer one is refused."""
    import psycopg

    facecore.Gallery.connect(db, space=SPACE).enroll("obama", faces["obama"])
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("UPDATE facecore_meta SET schema_version = 0")
    with pytest.raises(facecore.GalleryError, match=r"Gallery.connect\(url, migrate=True\) migrates it"):
        facecore.Gallery.connect(db)
    g = facecore.Gallery.connect(db, migrate=True)
    assert g.id_of("obama") == 1 and len(facecore.Gallery.connect(db)) == 1
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("UPDATE facecore_meta SET schema_version = 99")
    for migrate in (False, True):
        with pytest.raises(facecore.GalleryError, match="newer than this facecore"):
            facecore.Gallery.connect(db, migrate=migrate)


def test_database_calls_release_the_gil(db: str, faces: dict[str, np.ndarray]) -> None:
    """A call waiting for the database lets other Python threads run: a table lock held by
    another session makes `len` wait, and this thread keeps running meanwhile."""
    import psycopg

    g = facecore.Gallery.connect(db, space=SPACE)
    g.enroll("obama", faces["obama"])
    with psycopg.connect(db) as locker:
        # Bounds the wait should the GIL be held (the test then fails instead of hanging).
        locker.execute("SET lock_timeout = '20s'")
        locker.execute("LOCK TABLE facecore_people IN ACCESS EXCLUSIVE MODE")
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(len(g)))
        t0 = time.monotonic()
        worker.start()
        ticks = 0
        while time.monotonic() - t0 < 1.0:
            ticks += 1
        waited = time.monotonic() - t0
        assert worker.is_alive(), "len() did not wait for the lock"
        assert waited < 5, f"this thread was stopped for {waited:.1f} s: the GIL was held during the database call"
        assert ticks > 1000
        locker.commit()  # releases the lock
    worker.join(timeout=30)
    assert result == [1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_neither_uses_nor_closes_the_parents_connections(db: str, faces: dict[str, np.ndarray]) -> None:
    g = facecore.Gallery.connect(db, space=SPACE)
    g.enroll("obama", faces["obama"])  # the pool now holds a connection
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, drop the gallery, leave without pytest's cleanup
        code = 1
        try:
            try:
                len(g)
            except facecore.GalleryError as e:
                code = 0 if "Gallery.connect(url) in this process" in str(e) else 2
            # A connection of its own works.
            if code == 0 and len(facecore.Gallery.connect(db)) != 1:
                code = 3
            del g
            gc.collect()
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    answer = os.read(r, 1)
    os.waitpid(pid, 0)
    os.close(r)
    assert answer == b"\0", f"child failed with {answer!r}"
    # The child dropped its copy without closing the parent's pooled connection.
    assert len(g) == 1 and g.identify(faces["obama2"]) is not None
