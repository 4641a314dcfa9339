"""Deploys `app.py` on a local Ray cluster, enrols people into the PostgreSQL gallery from real
photos, then drives a burst of identify requests (concurrency ramped up, then idle) and
records, over time, the replicas Serve runs, the latency percentiles and the errors.

    python load.py --pg-url postgres://... [--faces DIR] [--phases 1:20,2:20,4:25,8:30,0:45]
                   [--json out.json] [--markdown out.md]

Ray runs on this machine only, set up here before Ray is imported:

- RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: Ray's local-only mode (its default on macOS and
  Windows). Every Ray process (GCS, raylet, workers, agents) then advertises and binds
  127.0.0.1. Without it, Ray on Linux takes the node's address from the default route
  (even when `ray.init(_node_ip_address="127.0.0.1")` is given, which it resolves to that
  address) and its gRPC servers listen on every interface.
- RAY_USAGE_STATS_ENABLED=0: no usage statistics are collected or sent.
- `ray.init(include_dashboard=False)`; Serve's HTTP proxy on 127.0.0.1.

The sockets of the Ray processes are recorded during the load and checked: every listening
socket on loopback, no connection to another address.

Exit status 1 when a request failed, when the replicas did not grow under load or did not
shrink after it, or when a listening socket was found outside loopback.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import math
import os
import platform
import random
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")

import facecore  # noqa: E402
import psutil  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APP_NAME = "facecore"
DEPLOYMENT = "FaceIdentify"


# --- the people and the probes ---------------------------------------------------------------


def dataset(faces: Path | None) -> tuple[dict[str, list[Path]], dict[Path, set[str]]]:
    """Enrolment photos per person and probe photos with the names they must give.

    face_recognition's k-NN example set (5 people; probes of 1 and 2 faces) when `faces`
    points at it, else the repository's fixtures (obama, biden)."""
    if faces is not None:
        train = {d.name: sorted(d.iterdir()) for d in sorted((faces / "train").iterdir()) if d.is_dir()}
        expected = {
            "alex_lacamoire1.jpg": {"alex_lacamoire"},
            "johnsnow_test1.jpg": {"kit_harington"},
            "kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
            "obama1.jpg": {"obama"},
            "obama_and_biden.jpg": {"obama", "biden"},
        }
        return train, {faces / "test" / k: v for k, v in expected.items()}
    fx = REPO / "tests" / "fixtures"
    train = {"obama": [fx / "obama.jpg"], "biden": [fx / "biden.jpg"]}
    probes = {fx / "obama2.jpg": {"obama"}, fx / "two_people.jpg": {"obama", "biden"}, fx / "obama_small.jpg": {"obama"}}
    return train, probes


def enrol(url: str, preset: str, train: dict[str, list[Path]]) -> list[str]:
    """Enrols every single-face photo (as face_recognition's k-NN example does: a photo with
    several faces does not say which one is the person); returns what was done."""
    pipe = facecore.Pipeline(preset)
    gallery = facecore.Gallery.connect(url, space=pipe.space)
    log = []
    for name, photos in train.items():
        for photo in photos:
            n = len(pipe.analyze(str(photo)))
            if n != 1:
                log.append(f"skipped {name}/{photo.name}: {n} faces")
                continue
            pid = pipe.enroll(gallery, name, str(photo))
            log.append(f"enrolled {name}/{photo.name} as id {pid}")
    log.append(f"gallery: {len(gallery)} people, {sum(p.embeddings for p in gallery.people())} embeddings ({gallery.store})")
    return log


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Request:
    start: float  # seconds since the load started
    latency: float  # seconds
    status: int  # HTTP status, 0 for a connection error
    ok: bool
    right: bool  # the names expected for the probe
    replica: str
    concurrency: int
    phase: int  # index into the phases
    error: str = ""


@dataclass
class Sample:
    t: float
    concurrency: int
    running: int
    starting: int
    stopping: int
    trigger: str


@dataclass
class Run:
    requests: list[Request] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def replica_counts() -> tuple[int, int, int, str]:
    """RUNNING, STARTING, STOPPING replicas of the deployment and the last status trigger."""
    status = serve.status()
    app = status.applications.get(APP_NAME)
    if app is None or DEPLOYMENT not in app.deployments:
        return 0, 0, 0, "none"
    d = app.deployments[DEPLOYMENT]
    states = {str(getattr(k, "value", k)): v for k, v in d.replica_states.items()}
    trigger = str(getattr(d.status_trigger, "value", d.status_trigger))
    return states.get("RUNNING", 0), states.get("STARTING", 0), states.get("STOPPING", 0), trigger


def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", "/identify", body=body, headers={"Content-Type": "image/jpeg"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of xs."""
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


WILDCARD = {"0.0.0.0", "::"}
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$")


def ray_sockets() -> tuple[list[str], list[str]]:
    """The listening TCP/UDP addresses of the Ray processes (this driver and its
    descendants), and their connections to any address that is not loopback."""
    me = psutil.Process()
    pids = {p.pid for p in me.children(recursive=True)} | {me.pid}
    listening, outside = set(), set()
    for c in psutil.net_connections(kind="inet"):
        if c.pid not in pids or not c.laddr:
            continue
        kind = "udp" if c.type == socket.SOCK_DGRAM else "tcp"
        if c.status == psutil.CONN_LISTEN or (kind == "udp" and not c.raddr):
            listening.add(f"{kind} {c.laddr.ip}:{c.laddr.port}")
        if c.raddr and not LOOPBACK.match(c.raddr.ip):
            outside.add(f"{kind} {c.laddr.ip}:{c.laddr.port} -> {c.raddr.ip}:{c.raddr.port}")
    return sorted(listening), sorted(outside)


def hosts_of(sockets: set[str] | list[str]) -> list[str]:
    """The addresses of `ray_sockets` entries ("tcp ADDR:PORT")."""
    return [s.split(" ", 1)[1].rsplit(":", 1)[0] for s in sockets]


def interfaces() -> list[str]:
    """Network interfaces with an address outside loopback."""
    return sorted(
        name
        for name, addrs in psutil.net_if_addrs().items()
        if any(a.family in (socket.AF_INET, socket.AF_INET6) and not LOOPBACK.match(a.address.split("%")[0]) for a in addrs)
    )


def cpu() -> dict[str, str]:
    """The CPU as lscpu names it, with the instruction sets that matter for inference."""
    info = {"model": platform.processor() or "unknown", "cpus": str(os.cpu_count()), "flags": ""}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return info
    fields = dict(re.findall(r"^([^:]+):\s*(.*)$", text, re.M))
    info["model"] = fields.get("Model name", info["model"])
    info["cpus"] = fields.get("CPU(s)", info["cpus"])
    info["threads_per_core"] = fields.get("Thread(s) per core", "")
    flags = set(fields.get("Flags", "").split())
    wanted = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_tile"]
    info["flags"] = ", ".join(f"{f}: {'yes' if f in flags else 'no'}" for f in wanted)
    return info


# --- the load ---------------------------------------------------------------------------------


def drive(port: int, probes: list[tuple[bytes, set[str]]], phases: list[tuple[int, float]], run: Run) -> None:
    """Keeps `concurrency` clients (each with one keep-alive connection, sending a request as
    soon as the previous answer arrives) busy for each phase in turn, while a sampler records
    the replicas every half second."""
    top = max(c for c, _ in phases)
    # (phase index, clients), swapped as one object so that a client reads both together.
    current: dict[str, tuple[int, int]] = {"now": (0, 0)}
    stop = threading.Event()
    t0 = time.monotonic()

    def client(i: int) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while not stop.is_set():
            phase, conc = current["now"]
            if i >= conc:
                time.sleep(0.05)
                continue
            body, names = probes[rng.randrange(len(probes))]
            start = time.monotonic()
            try:
                status, data = post(conn, body)
                latency = time.monotonic() - start
                ok = status == 200
                reply: dict[str, Any] = json.loads(data) if ok else {}
                got = {f["name"] for f in reply.get("faces", []) if f["name"]}
                req = Request(start - t0, latency, status, ok, got == names, reply.get("replica", ""), conc, phase,
                              "" if ok else data[:200].decode(errors="replace"))
            except (OSError, http.client.HTTPException, ValueError) as e:
                req = Request(start - t0, time.monotonic() - start, 0, False, False, "", conc, phase, repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with run.lock:
                run.requests.append(req)
        conn.close()

    def sampler() -> None:
        while not stop.is_set():
            t = time.monotonic() - t0
            try:
                running, starting, stopping, trigger = replica_counts()
            except Exception as e:  # noqa: BLE001 - recorded, the run goes on
                running, starting, stopping, trigger = -1, -1, -1, repr(e)[:60]
            with run.lock:
                run.samples.append(Sample(t, current["now"][1], running, starting, stopping, trigger))
            time.sleep(max(0.0, 0.5 - (time.monotonic() - t0 - t)))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(top)]
    threads.append(threading.Thread(target=sampler, daemon=True))
    for t in threads:
        t.start()
    for n, (conc, seconds) in enumerate(phases):
        current["now"] = (n, conc)
        end = time.monotonic() + seconds
        print(f"  t={time.monotonic() - t0:6.1f} s: {conc} client(s) for {seconds:.0f} s", flush=True)
        while time.monotonic() < end:
            time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=150)


# --- report -----------------------------------------------------------------------------------


def report(run: Run, phases: list[tuple[int, float]], meta: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """The markdown report, the JSON summary and the list of failed checks."""
    reqs, samples = run.requests, run.samples
    lines: list[str] = []
    lines.append("Replicas over time (sampled every 0.5 s from `serve.status()`; one row per 5 s, "
                 "the smallest and largest count of RUNNING replicas seen in it):\n")
    lines.append("| t (s) | clients | replicas running (min-max) | starting | requests done | p50 ms | p99 ms | errors | last autoscaler trigger |")
    lines.append("|---:|---:|---|---:|---:|---:|---:|---:|---|")
    end = max([s.t for s in samples] + [r.start + r.latency for r in reqs] + [0.0])
    b = 0.0
    while b < end:
        ss = [s for s in samples if b <= s.t < b + 5 and s.running >= 0]
        rr = [r for r in reqs if b <= r.start + r.latency < b + 5]  # answered in this window
        ok = [r.latency * 1000 for r in rr if r.ok]
        if ss:
            p50, p99 = (f"{percentile(ok, 50):.0f}", f"{percentile(ok, 99):.0f}") if ok else ("", "")
            lines.append(
                f"| {b:.0f} | {max(s.concurrency for s in ss)} | {min(s.running for s in ss)}-{max(s.running for s in ss)} "
                f"| {max(s.starting for s in ss)} | {len(rr)} | {p50} | {p99} | {sum(1 for r in rr if not r.ok)} | {ss[-1].trigger} |"
            )
        b += 5
    lines.append("\nLatency per phase (client side: request sent to answer read, through Serve's HTTP proxy):\n")
    lines.append("| phase | clients | seconds | requests | req/s | p50 ms | p90 ms | p99 ms | failed | wrong names | replicas running (min-max) | replicas that answered |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    t = 0.0
    phase_rows = []
    for i, (conc, seconds) in enumerate(phases, 1):
        rr = [r for r in reqs if r.phase == i - 1]  # started in this phase
        ss = [s for s in samples if t <= s.t < t + seconds and s.running >= 0]
        ok = [r.latency * 1000 for r in rr if r.ok]
        row = {
            "phase": i, "clients": conc, "seconds": seconds, "requests": len(rr),
            "failed": sum(1 for r in rr if not r.ok), "wrong": sum(1 for r in rr if r.ok and not r.right),
            "replicas_min": min((s.running for s in ss), default=0), "replicas_max": max((s.running for s in ss), default=0),
            "replicas_answering": len({r.replica for r in rr if r.ok}),
        }
        if ok:
            row.update(p50=percentile(ok, 50), p90=percentile(ok, 90), p99=percentile(ok, 99), rps=len(ok) / seconds)
            lines.append(f"| {i} | {conc} | {seconds:.0f} | {len(rr)} | {row['rps']:.1f} | {row['p50']:.0f} | {row['p90']:.0f} "
                         f"| {row['p99']:.0f} | {row['failed']} | {row['wrong']} | {row['replicas_min']}-{row['replicas_max']} | {row['replicas_answering']} |")
        else:
            lines.append(f"| {i} | {conc} | {seconds:.0f} | {len(rr)} | | | | | {row['failed']} | {row['wrong']} "
                         f"| {row['replicas_min']}-{row['replicas_max']} | {row['replicas_answering']} |")
        phase_rows.append(row)
        t += seconds
    ok_all = [r.latency * 1000 for r in reqs if r.ok]
    failed = [r for r in reqs if not r.ok]
    load_end = sum(s for c, s in phases if c > 0)
    peak = max((s.running for s in samples), default=0)
    at_start = next((s.running for s in samples if s.running > 0), 0)
    final = samples[-1].running if samples else 0
    summary = {
        "requests": len(reqs), "failed": len(failed), "wrong_names": sum(1 for r in reqs if r.ok and not r.right),
        "p50_ms": percentile(ok_all, 50) if ok_all else None, "p90_ms": percentile(ok_all, 90) if ok_all else None,
        "p99_ms": percentile(ok_all, 99) if ok_all else None,
        "replicas_at_start": at_start, "replicas_peak": peak, "replicas_at_end": final,
        "replicas_answering": len({r.replica for r in reqs if r.ok}),
        "first_peak_s": next((s.t for s in samples if s.running == peak), None),
        "back_to_min_s": next((s.t for s in samples if s.t > load_end and s.running == final), None),
    }
    lines.append(
        f"\n**{summary['requests']} requests, {summary['failed']} failed, {summary['wrong_names']} with wrong names; "
        f"replicas {at_start} → {peak} (first at t = {summary['first_peak_s']:.0f} s) → {final} "
        f"(at t = {summary['back_to_min_s'] or 0:.0f} s, the load stopped at t = {load_end:.0f} s).**"
        if summary["first_peak_s"] is not None else "\n**no replica was seen running**"
    )
    checks = []
    if failed:
        checks.append(f"{len(failed)} requests failed, e.g. {failed[0].status} {failed[0].error}")
    if peak <= at_start:
        checks.append(f"the replicas did not grow under load ({at_start} at start, {peak} at most)")
    if final >= peak:
        checks.append(f"the replicas did not shrink after the load ({peak} at most, {final} at the end)")
    hosts = [s.split(" ", 1)[1].rsplit(":", 1)[0] for s in meta["listening"]]
    off = [s for s, h in zip(meta["listening"], hosts) if not LOOPBACK.match(h) and h not in WILDCARD]
    if off:
        checks.append(f"Ray listens on an address outside loopback: {off}")
    if meta["outside"]:
        checks.append(f"Ray connected to addresses outside loopback: {meta['outside']}")
    if not meta["listening"]:
        checks.append("no listening socket of Ray was found (the socket check saw nothing)")
    return "\n".join(lines), {"summary": summary, "phases": phase_rows}, checks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg-url", required=True, help="the PostgreSQL gallery (an empty database: people are enrolled into it)")
    ap.add_argument("--faces", type=Path, help="face_recognition's knn_examples directory (train/, test/); default: the repo's fixtures")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--phases", default="1:20,2:20,4:25,8:30,0:45", help="clients:seconds, in order (0 clients: idle)")
    ap.add_argument("--port", type=int, default=0, help="Serve's HTTP port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--json", type=Path, help="write the raw samples, requests and summary here")
    ap.add_argument("--markdown", type=Path, help="write the report here")
    args = ap.parse_args()
    phases = [(int(c), float(s)) for c, s in (p.split(":") for p in args.phases.split(","))]
    if not phases or any(c < 0 or s <= 0 for c, s in phases) or max(c for c, _ in phases) == 0:
        ap.error("--phases: clients:seconds pairs with seconds > 0 and at least one phase with clients")

    train, expected = dataset(args.faces)
    print("== enrolment into", args.pg_url.split("@")[-1])
    for line in enrol(args.pg_url, args.preset, train):
        print("  " + line)
    probes = [(p.read_bytes(), names) for p, names in expected.items()]

    port = args.port
    if port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    print(f"== Ray {ray.__version__}: local cluster on 127.0.0.1, 2 CPUs, no dashboard; Serve on 127.0.0.1:{port}")
    ray.init(
        num_cpus=os.cpu_count() or 2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level=logging.WARNING,
        log_to_driver=False,
        # The replicas import app.py from here (the class is pickled by reference).
        runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}},
    )
    sys.path.insert(0, str(HERE))
    import app

    serve.start(http_options={"host": "127.0.0.1", "port": port})
    t = time.monotonic()
    serve.run(app.build_app(args.pg_url, args.preset, probes[0][0]), name=APP_NAME, route_prefix="/identify")
    print(f"  deployed in {time.monotonic() - t:.1f} s; autoscaling: {json.dumps(app.AUTOSCALING)}, num_cpus 0.5 per replica")

    # Every probe once, answers checked, before the clock starts.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for (body, names), path in zip(probes, expected):
        status, data = post(conn, body)
        got = sorted(f["name"] for f in json.loads(data)["faces"] if f["name"]) if status == 200 else data.decode()
        print(f"  {path.name}: {status} {got}{'' if status == 200 and set(got) == names else '  (expected ' + str(sorted(names)) + ')'}")
    status, data = post(conn, b"not an image")
    print(f"  a body that is not an image: {status} {json.loads(data).get('error', '')[:80]}")
    conn.close()

    print("== load: " + ", ".join(f"{c} client(s) for {s:.0f} s" for c, s in phases))
    run = Run()
    listening: set[str] = set()
    outside: set[str] = set()
    done = threading.Event()

    def watch_sockets() -> None:
        # Every 2 s during the load: replicas come and go, each with its own servers.
        while not done.wait(2.0):
            lst, out = ray_sockets()
            listening.update(lst)
            outside.update(out)

    watcher = threading.Thread(target=watch_sockets, daemon=True)
    watcher.start()
    load_before = os.getloadavg()
    drive(port, probes, phases, run)
    load_after = os.getloadavg()
    done.set()
    watcher.join(timeout=10)

    meta = {
        "ray": ray.__version__,
        "facecore": facecore.__version__,
        "python": platform.python_version(),
        "cpu": cpu(),
        "preset": args.preset,
        "autoscaling": app.AUTOSCALING,
        "num_cpus_per_replica": 0.5,
        "max_ongoing_requests": 2,
        "phases": phases,
        "probes": [p.name for p in expected],
        "enrolled": {k: [p.name for p in v] for k, v in train.items()},
        "listening": sorted(listening),
        "outside": sorted(outside),
        "interfaces": interfaces(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }
    text, summary, checks = report(run, phases, meta)
    serve.shutdown()
    ray.shutdown()

    wildcard = sorted(s for s in listening if s.split(" ", 1)[1].rsplit(":", 1)[0] in WILDCARD)
    if not wildcard:
        reach = "nothing listens on a wildcard address"
    elif not meta["interfaces"]:
        reach = (f"{len(wildcard)} on a wildcard address (each Serve replica's inter-deployment gRPC server: Ray Serve "
                 "binds it to [::]:0 whatever the configuration), reachable through loopback only: this network "
                 "namespace has no other interface")
    else:
        reach = (f"WARNING: {len(wildcard)} on a wildcard address (each Serve replica's inter-deployment gRPC server: "
                 f"Ray Serve binds it to [::]:0 whatever the configuration), reachable through {', '.join(meta['interfaces'])}; "
                 "run.sh runs Ray in a private network namespace to contain them (FACECORE_RAY_NETNS=1)")
    head = (
        f"Ray {meta['ray']}, facecore {meta['facecore']} (preset `{args.preset}`), Python {meta['python']}; "
        f"CPU: {meta['cpu']['model']}, {meta['cpu']['cpus']} logical CPUs; {meta['cpu']['flags']}. "
        f"Load average (1, 5, 15 min) before the load: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after it: {', '.join(f'{x:.2f}' for x in load_after)}.\n\n"
        f"Network interfaces besides loopback: {', '.join(meta['interfaces']) or 'none'}. Sockets of the Ray processes "
        f"during the load: {len(listening)} listening, on {', '.join(sorted(set(hosts_of(listening)))) or 'nothing'}; "
        f"{reach}; {len(outside)} connections to addresses outside loopback.\n"
    )
    print(head)
    print(text)
    if args.markdown:
        args.markdown.write_text(head + "\n" + text + "\n")
    if args.json:
        args.json.write_text(json.dumps({
            "meta": meta, **summary,
            "samples": [vars(s) for s in run.samples],
            "requests": [vars(r) for r in run.requests],
        }, indent=1))
    for c in checks:
        print("FAIL:", c)
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main())
