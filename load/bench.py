"""`make bench`: a world of 1 000 000 grants, served and measured on loopback; writes load/RESULTS.md.

    python load/bench.py [--grants N] [--seed S] [--database-url URL] [--duration 15] [--connections 64]

One run measures, each wrk run for the same duration and with the same connections:
  (a) POST /v1/check on real (user, product, afnemer) triples sampled from the world: throughput, p50, p99;
  (b) a bare Starlette route (load/bare_app.py) served the same way, and the ratio (a)/(b);
  (c) Decider.check in process, microseconds per call, and the load time split (SQL read / index build);
  (d) POST /v1/check/batch with 1000 checks, at one connection: latency;
  (e) start-up time (process start until /readyz is ready) and the RSS of the service process;
  (f) start-up with Redis: from SQL (which writes the decider snapshot to Redis), then from that snapshot;
  (g) propagation between two instances on PostgreSQL + Redis under read load (load/propagation.py);
  (h) the decision log's cost: (a) on the same service with the log off (AUTHZ_DECISION_LOG=0), alternated with
      runs with it on (the default), and what the log wrote meanwhile (its /metrics);
  the CPU the /v1/check handler costs inside the app without HTTP, against the bare route's handler;
  and, to inform a decision, (a) again on a service that calls gc.freeze() after loading (load/frozen_app.py).
It also measures CPU used by other processes while each run lasts (a neighbour halves throughput) and reports it.
Everything runs on 127.0.0.1; every run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import world  # load/world.py (this script's folder is on sys.path)
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
HZ = os.sysconf("SC_CLK_TCK")


# -- processes and CPU accounting -------------------------------------------------------------------------------

def machine_busy() -> int:
    """Busy jiffies of the whole machine (all cores) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return user + nice + system + irq + softirq + steal


def proc_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(port: int, method: str, path: str, body: bytes | None = None, key: str | None = None
         ) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    log: Path = OUT / "server.log"

    def start(self, timeout: float = 120.0) -> float:
        """Start; returns the seconds from process start until /readyz answers 200."""
        self.log = OUT / f"{self.name}.log"
        with self.log.open("wb") as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen([*self.cmd, "--port", str(self.port)], env=self.env, cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            while time.monotonic() - self.started < timeout:
                if self.proc.poll() is not None:
                    raise SystemExit(f"{self.name} stopped while starting; see {self.log}")
                try:
                    if call(self.port, "GET", "/readyz")[0] == 200:
                        return time.monotonic() - self.started
                except OSError:
                    pass
                time.sleep(0.02)
            raise SystemExit(f"{self.name} was not ready after {timeout} s; see {self.log}")
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- wrk ----------------------------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed and this is not root: install the Debian package "
                         "(`sudo apt-get install -y wrk`) and run `make bench` again.")
    print("installing wrk (apt-get install -y wrk)...", file=sys.stderr)
    if subprocess.run(["apt-get", "install", "-y", "wrk"], check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], check=False)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get did not install wrk")
    return found


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(wrk: str, server: Server, path: str, script: str, env: dict[str, str], connections: int,
            duration: int, label: str) -> dict[str, Any]:
    assert server.proc is not None
    load_before = os.getloadavg()[0]
    busy0, srv0, t0 = machine_busy(), proc_ticks(server.proc.pid), time.monotonic()
    proc = subprocess.Popen([wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
                             "-s", str(HERE / script), f"http://127.0.0.1:{server.port}{path}"],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - t0
    busy1, srv1 = machine_busy(), proc_ticks(server.proc.pid)
    (OUT / f"wrk-{label}.txt").write_text(out)
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise SystemExit(f"wrk failed ({label}):\n{out}")
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    server_s = (srv1 - srv0) / HZ
    wrk_s = usage.ru_utime + usage.ru_stime
    return {
        "label": label, "path": path, "connections": connections, "duration_s": duration,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(pct["50"]), "p90_ms": _ms(pct["90"]), "p99_ms": _ms(pct["99"]),
        "max_ms": _ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "requests": requests, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
        "server_cpu_cores": round(server_s / elapsed, 2), "wrk_cpu_cores": round(wrk_s / elapsed, 2),
        "server_us_per_request": round(server_s / max(requests, 1) * 1e6, 1),
        "foreign_cpu_cores": round(max(0.0, (busy1 - busy0) / HZ - server_s - wrk_s) / elapsed, 2),
        "load_avg_before": round(load_before, 2),
    }


# -- the measurements --------------------------------------------------------------------------------------------

def sanity(server: Server, key: str, bodies: list[str]) -> float:
    """Every sampled body gets a 200 from the service; returns the share that is allowed."""
    allowed = 0
    for body in bodies:
        status, answer = call(server.port, "POST", "/v1/check", body.encode(), key)
        if status != 200:
            raise SystemExit(f"/v1/check answered {status}: {answer[:300]!r}")
        allowed += bool(json.loads(answer)["allowed"])
    return allowed / len(bodies)


def in_process(url: str, bodies: list[str]) -> dict[str, Any]:
    """(c): load the index as the service does, then time Decider.check over the sampled triples."""
    from authz.decider import Decider
    from authz.store.db import Database
    from authz.store.snapshot import read_snapshot

    db = Database(url)
    t0 = time.perf_counter()
    snap = read_snapshot(db)
    t1 = time.perf_counter()
    decider = Decider()
    decider.load(snap)
    t2 = time.perf_counter()
    db.dispose()
    del snap
    # A full collection walks every object of the index: that is the pause the service takes now and then (the
    # reason for gc.freeze()). Collected here once, so the timing below sees the steady state.
    t3 = time.perf_counter()
    gc.collect()
    gc_pause = time.perf_counter() - t3
    triples = [(b["user"], b["product"], b.get("afnemer")) for b in map(json.loads, bodies)]
    check = decider.check

    def with_afnemer() -> None:
        for u, p, a in triples:
            check(u, p, a)

    def any_afnemer() -> None:
        for u, p, _ in triples:
            check(u, p)

    # The machine's speed at this moment (shared hosts vary a lot): a fixed piece of pure Python, ns per step.
    small = {f"k{i}": i for i in range(64)}
    calibration = min(timeit.repeat(lambda: [(small.get(f"k{i & 63}"), i) for i in range(100_000)],
                                    number=1, repeat=5)) / 100_000 * 1e9
    hot = triples[:200] * (len(triples) // 200)  # the same few users again and again: all in CPU cache

    def hot_cache() -> None:
        for u, p, a in hot:
            check(u, p, a)

    runs = {name: [t / len(triples) * 1e6 for t in timeit.repeat(fn, number=1, repeat=9)]
            for name, fn in (("with_afnemer", with_afnemer), ("any_afnemer", any_afnemer), ("hot", hot_cache))}
    return {"read_snapshot_s": round(t1 - t0, 2), "index_build_s": round(t2 - t1, 2),
            "full_gc_s": round(gc_pause, 3), "gc_objects": len(gc.get_objects()),
            "calibration_ns": round(calibration, 1),
            "stats": decider.stats(), "calls": len(triples),
            **{f"{n}_us_median": round(statistics.median(v), 3) for n, v in runs.items()},
            **{f"{n}_us_best": round(min(v), 3) for n, v in runs.items()}}


def handler_cost(url: str, key: str, bodies: list[str]) -> dict[str, float]:
    """The CPU one request costs inside the app, without HTTP: the /v1/check handler of the started service
    against the bare route's handler, each called directly with the same request bodies (median µs)."""
    import asyncio

    import bare_app  # load/bare_app.py
    from starlette.requests import Request

    from authz.api import decisions
    from authz.app import create_app
    from authz.config import Settings

    app = create_app(Settings(database_url=url, secret_key="bench", outbox_dir=OUT / "outbox",  # noqa: S106
                              lease_seconds=3600.0, mail_interval=3600.0, decision_log_dir=OUT / "decision-log"))
    raw = [b.encode() for b in bodies[:10_000]]
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {key}".encode())]

    def request(body: bytes) -> Request:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "method": "POST", "path": "/v1/check", "query_string": b"", "app": app,
                 "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        return Request(scope, receive)

    async def measure() -> dict[str, float]:
        out: dict[str, list[float]] = {"check": [], "bare": []}
        async with app.router.lifespan_context(app):
            for _ in range(5):  # alternating, so that a neighbour's burst hits both alike
                for name, handler in (("check", decisions.check), ("bare", bare_app.check)):
                    started = time.perf_counter()
                    for body in raw:
                        await handler(request(body))
                    out[name].append((time.perf_counter() - started) / len(raw) * 1e6)
        return {f"{name}_handler_us": round(statistics.median(v), 1) for name, v in out.items()}

    return asyncio.run(measure())


_VERSIONS = """
import json, platform
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
names = ("uvicorn", "starlette", "orjson", "httptools", "uvloop")
print(json.dumps({"python": platform.python_version(), **{n: version(n) for n in names}}))
"""


def machine(python: str) -> dict[str, Any]:
    """The machine, and the versions that the servers' interpreter runs."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    versions = json.loads(subprocess.run([python, "-c", _VERSIONS], capture_output=True, text=True,
                                         check=True).stdout)
    return {"cpu": model.group(1) if model else "?", "cores": os.cpu_count(),
            "memory_gb": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else "?",
            "kernel": platform.release(), **versions,
            "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True,
                                  check=False).stdout.splitlines()[0:1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grants", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database-url", default=None, help="fill and serve this database instead of a SQLite file")
    p.add_argument("--duration", type=int, default=15, help="seconds of each wrk run")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--python", default=sys.executable, help="the interpreter that runs the servers")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    p.add_argument("--redis-url", default=os.environ.get("AUTHZ_BENCH_REDIS", "redis://127.0.0.1:6379/0"))
    p.add_argument("--propagation-changes", type=int, default=1000, help="(g): grant changes (0: skip)")
    p.add_argument("--propagation-url", default=None, help="(g): PostgreSQL database (default: see propagation.py)")
    p.add_argument("--only-decision-log", action="store_true",
                   help="(h) alone, printed: /v1/check with the decision log on and off (a quick look)")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    thresholds = yaml.safe_load((HERE / "thresholds.yaml").read_text())
    load_start = os.getloadavg()
    facts = machine(args.python)  # early: a wrong --python fails before the long part

    w = world.ensure(args.grants, args.seed, args.database_url)
    print(f"world: {w.describe()}", file=sys.stderr)
    paths = world.write_bodies(world.grant_triples(w.url), args.seed)
    bodies = paths["check"].read_text().splitlines()
    env = {**os.environ, "AUTHZ_DATABASE_URL": w.url, "AUTHZ_SECRET_KEY": "bench", "AUTHZ_LOG_LEVEL": "INFO",
           "AUTHZ_OUTBOX_DIR": str(OUT / "outbox"), "AUTHZ_DECISION_LOG_DIR": str(OUT / "decision-log"),
           "PYTHONPATH": str(ROOT)}
    wrk_env = {"AUTHZ_BENCH_BODIES": str(paths["check"]), "AUTHZ_BENCH_BATCH": str(paths["batch"]),
               "AUTHZ_BENCH_KEY": w.key}
    runs: dict[str, dict[str, Any]] = {}
    warm = max(2, args.duration // 5)
    if args.only_decision_log:
        dlog = decision_log_cost(wrk, args.python, env, wrk_env, args.connections, args.duration, warm)
        print("\n".join(["| target | measured | threshold | result |", "| --- | --- | --- | --- |",
                         _decision_log_row(dlog, thresholds), "", *_decision_log_lines(dlog)]))
        return 0

    service = Server("service", [args.python, "-m", "authz.cli", "serve", "--host", "127.0.0.1"], env)
    startup = service.start()
    assert service.proc is not None
    rss_ready, pid = rss_mb(service.proc.pid), service.proc.pid
    loaded = re.search(r"loaded revision \d+ in ([\d.]+) s", service.log.read_text())
    try:
        allowed_share = sanity(service, w.key, bodies[:500])
        run_wrk(wrk, service, "/v1/check", "check.lua", wrk_env, args.connections, warm, "warmup")
        runs["check"] = run_wrk(wrk, service, "/v1/check", "check.lua", wrk_env, args.connections,
                                args.duration, "check")
        runs["check_4"] = run_wrk(wrk, service, "/v1/check", "check.lua", wrk_env, 4, args.duration, "check_4")
        runs["batch"] = run_wrk(wrk, service, "/v1/check/batch", "batch.lua", wrk_env, 1, args.duration, "batch")
        rss_after, rss_peak = rss_mb(pid), rss_mb(pid, "VmHWM")
    finally:
        service.stop()

    bare = Server("bare", [args.python, str(HERE / "serve.py"), "bare_app:create_app"], env)
    bare.start()
    try:
        run_wrk(wrk, bare, "/v1/check", "check.lua", wrk_env, args.connections, warm, "warmup-bare")
        runs["bare"] = run_wrk(wrk, bare, "/v1/check", "check.lua", wrk_env, args.connections, args.duration,
                               "bare")
    finally:
        bare.stop()

    frozen = Server("frozen", [args.python, str(HERE / "serve.py"), "frozen_app:create_app"], env)
    frozen.start()
    try:
        run_wrk(wrk, frozen, "/v1/check", "check.lua", wrk_env, args.connections, warm, "warmup-frozen")
        runs["check_gc_frozen"] = run_wrk(wrk, frozen, "/v1/check", "check.lua", wrk_env, args.connections,
                                          args.duration, "check_gc_frozen")
    finally:
        frozen.stop()

    dlog = decision_log_cost(wrk, args.python, env, wrk_env, args.connections, args.duration, warm)
    warm_starts = warm_start(args.python, env, args.redis_url)
    prop: dict[str, Any] | None = None
    if args.propagation_changes > 0:
        import propagation  # load/propagation.py

        purl, pkey, pbodies = propagation.prepare(20_000, args.seed, args.propagation_url or propagation.DEFAULT_PG)
        prop = propagation.run(purl, pkey, args.propagation_changes, 16, args.redis_url, args.python, pbodies)
        (OUT / "propagation.json").write_text(json.dumps(prop, indent=2))
    inproc = in_process(w.url, bodies)
    inproc.update(handler_cost(w.url, w.key, bodies))
    results = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "grants": args.grants, "seed": args.seed,
        "database": "PostgreSQL" if w.url.startswith("postgres") else "SQLite",
        "world": w.describe(), "world_built_s": round(w.built_seconds, 1) if w.built_seconds else None,
        "duration_s": args.duration, "connections": args.connections, "allowed_share": round(allowed_share, 3),
        "startup_s": round(startup, 2), "service_load_s": float(loaded.group(1)) if loaded else None,
        "rss_ready_mb": round(rss_ready), "rss_after_mb": round(rss_after), "rss_peak_mb": round(rss_peak),
        "ratio": round(runs["check"]["rps"] / runs["bare"]["rps"], 3), "runs": runs, "in_process": inproc,
        "load_avg_at_start": [round(x, 2) for x in load_start], "machine": facts,
        "thresholds": thresholds, "python": args.python, "warm_start": warm_starts, "propagation": prop,
        "decision_log": dlog,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    args.out.write_text(report(results))
    print(report(results))
    return 0


def _metric(port: int, name: str) -> float:
    status, text = call(port, "GET", "/metrics")
    found = re.search(rf"^{name} (\S+)$", text.decode(), re.M) if status == 200 else None
    return float(found.group(1)) if found else float("nan")


def decision_log_cost(wrk: str, python: str, env: dict[str, str], wrk_env: dict[str, str], connections: int,
                      duration: int, warm: int, rounds: int = 2) -> dict[str, Any]:
    """(h): /v1/check on two services of the same world, one with the decision log (the default) and one without
    (AUTHZ_DECISION_LOG=0), both running at once and measured in turn, ``rounds`` times each (so that a
    neighbour's burst or the host's drift hits both alike); the medians are compared. Also what the log wrote
    meanwhile, read from the logging service's /metrics."""
    cmd = [python, "-m", "authz.cli", "serve", "--host", "127.0.0.1"]
    on = Server("dlog-on", cmd, env)
    off = Server("dlog-off", cmd, {**env, "AUTHZ_DECISION_LOG": "0"})
    on.start()
    try:
        off.start()
        try:
            for server in (on, off):
                run_wrk(wrk, server, "/v1/check", "check.lua", wrk_env, connections, warm, f"warmup-{server.name}")
            got: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
            for i in range(rounds):
                for name, server in (("on", on), ("off", off)):
                    got[name].append(run_wrk(wrk, server, "/v1/check", "check.lua", wrk_env, connections,
                                             duration, f"check_log_{name}_{i}"))
            time.sleep(2.5)  # the writer's next shipment
            written = {k: _metric(on.port, f"authz_decision_log_{k}_total")
                       for k in ("journaled", "shipped", "dropped", "backlog_dropped")}
        finally:
            off.stop()
    finally:
        on.stop()
    rps = {k: statistics.median(r["rps"] for r in v) for k, v in got.items()}
    p99 = {k: statistics.median(r["p99_ms"] for r in v) for k, v in got.items()}
    us = {k: statistics.median(r["server_us_per_request"] for r in v) for k, v in got.items()}
    return {"rps_on": round(rps["on"]), "rps_off": round(rps["off"]), "cost": round(1 - rps["on"] / rps["off"], 3),
            "p99_on_ms": p99["on"], "p99_off_ms": p99["off"], "server_us_on": us["on"], "server_us_off": us["off"],
            "rounds": rounds, "requests_on": sum(r["requests"] for r in got["on"]),
            "foreign_cpu_cores": [r["foreign_cpu_cores"] for v in got.values() for r in v], **written}


def _decision_log_row(d: dict[str, Any], t: dict[str, Any]) -> str:
    ok = d["cost"] <= t["decision_log_throughput_cost_max"]
    return (f"| (h) throughput cost of the decision log on /v1/check | {d['cost']:.1%} | "
            f"<= {t['decision_log_throughput_cost_max']:.0%} | {'pass' if ok else '**FAIL**'} |")


def _decision_log_lines(d: dict[str, Any]) -> list[str]:
    return [
        "## The decision log's cost (h)", "",
        f"- `/v1/check` with the decision log (the default): {d['rps_on']:,} req/s, p99 {d['p99_on_ms']:.2f} ms, "
        f"{d['server_us_on']:,.0f} µs of server CPU per request; without it (`AUTHZ_DECISION_LOG=0`): "
        f"{d['rps_off']:,} req/s, p99 {d['p99_off_ms']:.2f} ms, {d['server_us_off']:,.0f} µs. Both services ran "
        f"at once, measured in turn, {d['rounds']} runs each (medians); foreign CPU during the runs: "
        f"{d['foreign_cpu_cores']} cores.",
        f"- Meanwhile the log journaled {d['journaled']:,.0f} decisions and wrote {d['shipped']:,.0f} to SQL "
        f"(of {d['requests_on']:,} requests measured, plus the warm-up); dropped: {d['dropped']:,.0f} (buffer "
        f"full), {d['backlog_dropped']:,.0f} (journal full).",
    ]


def warm_start(python: str, env: dict[str, str], redis_url: str) -> dict[str, Any]:
    """(f): the service with Redis, started twice on the same world and a fresh key prefix: the first start loads
    from SQL and writes the snapshot, the second starts from it. Both timed until /readyz answers ready."""
    import uuid

    import redis

    prefix = f"authz-bench-{uuid.uuid4().hex[:8]}:"
    renv = {**env, "AUTHZ_REDIS_URL": redis_url, "AUTHZ_REDIS_PREFIX": prefix}
    client = redis.Redis.from_url(redis_url)
    out: dict[str, Any] = {}
    try:
        for name in ("from_sql", "from_snapshot"):
            server = Server(f"warm-{name}", [python, "-m", "authz.cli", "serve", "--host", "127.0.0.1"], renv)
            out[f"{name}_s"] = round(server.start(), 2)
            assert server.proc is not None
            out[f"{name}_rss_mb"] = round(rss_mb(server.proc.pid))
            try:
                deadline = time.monotonic() + 180
                while client.get(f"{prefix}snapshot:latest") is None:  # the first start writes it after ready
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no snapshot in Redis after 180 s; see {server.log}")
                    time.sleep(0.1)
                out[f"{name}_peak_rss_mb"] = round(rss_mb(server.proc.pid, "VmHWM"))
            finally:
                server.stop()
            text = server.log.read_text()
            loaded = re.search(r"loaded revision \d+ (?:from the snapshot in Redis )?in ([\d.]+) s", text)
            out[f"{name}_load_s"] = float(loaded.group(1)) if loaded else None
            from_snapshot = re.search(r"loaded revision \d+ from the snapshot", text) is not None
            if from_snapshot != (name == "from_snapshot"):
                raise SystemExit(f"start {name}: {'' if from_snapshot else 'not '}from the snapshot; see {server.log}")
        latest = client.get(f"{prefix}snapshot:latest")
        out["snapshot_mb"] = round(int(client.strlen(f"{prefix}snapshot:{int(latest)}")) / 1e6, 1)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()
    out["ratio"] = round(out["from_snapshot_s"] / out["from_sql_s"], 2)
    return out


# -- the report ---------------------------------------------------------------------------------------------------

def report(r: dict[str, Any]) -> str:
    t, runs, ip = r["thresholds"], r["runs"], r["in_process"]
    rows = [
        ("(a)/(b) throughput ratio, /v1/check vs bare route", f"{r['ratio']:.2f}",
         f">= {t['check_vs_bare_ratio_min']}", r["ratio"] >= t["check_vs_bare_ratio_min"]),
        (f"(a) p99 of /v1/check at {r['connections']} connections", f"{runs['check']['p99_ms']:.2f} ms",
         f"<= {t['check_p99_ms_max']} ms", runs["check"]["p99_ms"] <= t["check_p99_ms_max"]),
        ("(c) Decider.check in process (median, with afnemer)", f"{ip['with_afnemer_us_median']:.2f} µs",
         f"<= {t['in_process_us_max']} µs", ip["with_afnemer_us_median"] <= t["in_process_us_max"]),
        ("(e) start-up until /readyz is ready", f"{r['startup_s']:.1f} s", f"<= {t['startup_s_max']} s",
         r["startup_s"] <= t["startup_s_max"]),
        ("(e) RSS of the service once ready", f"{r['rss_ready_mb']} MB", f"<= {t['rss_mb_max']} MB",
         r["rss_ready_mb"] <= t["rss_mb_max"]),
    ]
    ws, prop = r.get("warm_start"), r.get("propagation")
    if ws:
        rows.append(("(f) start-up from the Redis snapshot / from SQL", f"{ws['ratio']:.2f}",
                     f"<= {t['warm_start_ratio_max']}", ws["ratio"] <= t["warm_start_ratio_max"]))
    if prop:
        rows.append(("(g) propagation commit on A → applied on B, p99", f"{prop['p99_ms']:.2f} ms",
                     f"<= {t['propagation_p99_ms_max']} ms", prop["p99_ms"] <= t["propagation_p99_ms_max"]))
    dlog = r.get("decision_log")
    if dlog:
        rows.append(("(h) throughput cost of the decision log on /v1/check", f"{dlog['cost']:.1%}",
                     f"<= {t['decision_log_throughput_cost_max']:.0%}",
                     dlog["cost"] <= t["decision_log_throughput_cost_max"]))
    m = r["machine"]
    out = [
        "# Benchmark results", "",
        f"Written by `make bench` (load/bench.py) on {r['date']}: {r['grants']:,} grants ({r['database']}, "
        f"seed {r['seed']}), one service process, wrk on loopback, {r['duration_s']} s per run. "
        "See load/README.md for how to read this.", "",
        "| target | measured | threshold | result |", "| --- | --- | --- | --- |",
        *[f"| {name} | {value} | {limit} | {'pass' if ok else '**FAIL**'} |" for name, value, limit, ok in rows],
        "", "## wrk runs", "",
        "| run | path | conns | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | server CPU µs/req "
        "| server cores | foreign CPU cores | load avg before |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("check", "bare", "check_gc_frozen", "check_4", "batch"):
        x = runs[name]
        out.append(f"| {name} | {x['path']} | {x['connections']} | {x['rps']:,.0f} | {x['p50_ms']:.2f} | "
                   f"{x['p90_ms']:.2f} | {x['p99_ms']:.2f} | {x['max_ms']:.1f} | {x['non_2xx']} | "
                   f"{x['server_us_per_request']:,.0f} | {x['server_cpu_cores']} | {x['foreign_cpu_cores']} | "
                   f"{x['load_avg_before']} |")
    batch = runs["batch"]
    out += [
        "", f"- `check`: {r['allowed_share']:.0%} of the sampled triples are allowed (the rest are grants made "
        "inert by a lapsed contract or mandate, or of inactive accounts).",
        f"- `check_gc_frozen`: the same service with `gc.freeze()` after loading: {runs['check_gc_frozen']['rps']:,.0f}"
        f" req/s, p99 {runs['check_gc_frozen']['p99_ms']:.2f} ms (vs {runs['check']['p99_ms']:.2f} ms).",
        f"- `check_4`: 4 connections instead of {r['connections']}: latency without queueing in the server.",
        f"- `batch` (d): /v1/check/batch with 1000 checks, one connection: p50 {batch['p50_ms']:.1f} ms, "
        f"p99 {batch['p99_ms']:.1f} ms, {batch['rps'] * 1000:,.0f} checks/s.",
        "", "## Start-up and memory (e), in-process decisions (c)", "",
        f"- Start-up to ready: {r['startup_s']:.2f} s; the service's own log says the index loaded in "
        f"{r['service_load_s']} s. In process: reading the snapshot from SQL {ip['read_snapshot_s']} s, "
        f"building the index {ip['index_build_s']} s.",
        f"- RSS: {r['rss_ready_mb']} MB once ready, {r['rss_after_mb']} MB after the runs, peak (VmHWM) "
        f"{r['rss_peak_mb']} MB.",
        f"- Decider.check over {ip['calls']:,} sampled triples: median {ip['with_afnemer_us_median']} µs "
        f"(best {ip['with_afnemer_us_best']} µs) with the afnemer, {ip['any_afnemer_us_median']} µs for any "
        f"afnemer; {ip['hot_us_median']} µs when the same 200 triples repeat (index entries in CPU cache: the "
        "rest is memory latency of lookups in dicts of a million entries). "
        f"Index: {ip['stats']}.",
        f"- Inside the app, without HTTP: the /v1/check handler costs {ip['check_handler_us']} µs per request, the "
        f"bare route's handler {ip['bare_handler_us']} µs (same bodies, median): the difference is what deciding "
        "(key check, validation, lookup, answer) adds to every request.",
        f"- Machine speed at that moment: {ip['calibration_ns']} ns per step of a fixed piece of Python (compare "
        "runs by it: this host's speed varies with its neighbours).",
        f"- A full garbage collection over the loaded index ({ip['gc_objects']:,} tracked objects) takes "
        f"{ip['full_gc_s'] * 1000:.0f} ms: a pause that any request arriving meanwhile waits out.",
        f"- World: {r['world']}.",
        *(_warm_lines(ws, r["database"]) if ws else []),
        *(["", "## Propagation between instances (g)", "", *_propagation_lines(prop, t)] if prop else []),
        *(["", *_decision_log_lines(dlog)] if dlog else []),
        "", "## Machine", "",
        f"- {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; Linux {m['kernel']}; Python {m['python']}",
        f"- uvicorn {m['uvicorn']}, starlette {m['starlette']}, orjson {m['orjson']}, httptools {m['httptools']}, "
        f"uvloop {m['uvloop']}; {' '.join(m['wrk'])}",
        f"- load average at the start: {r['load_avg_at_start']}; foreign CPU during the runs: "
        f"{', '.join(str(runs[n]['foreign_cpu_cores']) for n in ('check', 'bare', 'check_gc_frozen'))} cores "
        "(check, bare, gc-frozen). More than about 0.2 cores means a neighbour skewed the figures: run again.",
        f"- servers run by: {r['python']}",
        "",
    ]
    return "\n".join(out)


def _propagation_lines(prop: dict[str, Any], t: dict[str, Any]) -> list[str]:
    import propagation  # load/propagation.py (it imports this module: not at the top)

    return propagation.report_lines(prop, t["propagation_p99_ms_max"])


def _warm_lines(ws: dict[str, Any], database: str) -> list[str]:
    return [
        "", "## Warm start from the Redis snapshot (f)", "",
        f"- Same world ({database}), Redis configured, a fresh key prefix. From SQL: {ws['from_sql_s']:.2f} s to "
        f"ready (index loaded in {ws['from_sql_load_s']} s), RSS {ws['from_sql_rss_mb']} MB once ready; this "
        f"start then wrote the snapshot ({ws['snapshot_mb']} MB in Redis, zlib). From the snapshot: "
        f"{ws['from_snapshot_s']:.2f} s to ready (snapshot read and index built in {ws['from_snapshot_load_s']} s), "
        f"RSS {ws['from_snapshot_rss_mb']} MB once ready, peak {ws['from_snapshot_peak_rss_mb']} MB: "
        f"{ws['ratio']:.0%} of the start-up from SQL.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
