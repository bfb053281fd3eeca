"""`loadtest/bench`: the edge's redirect against bare baselines, side by side, in one run on one machine.

Cases, each served by uvicorn with the same settings (`tracker.cli.serve`: uvloop, httptools, no access log,
proxy headers) and the same worker count, loaded by `wrk` over keep-alive connections:

  (a) bare ASGI fixed 302          (b) Starlette fixed 302          (c) Starlette + one redis-py GET per request
  (d) edge, warm cache, fast       (e) edge, warm cache, ack        (f) edge, SMS blast: every tap a new code, ack

plus (e) again at about half of its peak rate, for its p99 there. wrk has no rate control (wrk2 is not packaged
in Debian), so the half-rate run paces each connection with the Lua `delay()` hook: a fixed connection count and
a fixed pause per request chosen so that connections x 1/pause is half the peak. Its latency is measured from
the actual send, so unlike wrk2 it does not count time a request would have queued behind a stalled one.

(f) is the SMS blast: per-recipient links, each tapped once, so the edge has never cached any of them. Every
(f) run gets links created for it alone just before it (never requested by any earlier run, never seen by any
server), enough for the run at the rate the previous (f) runs reached; the previous run's links are deleted.

On 2 cores the server gets CPU 0 (1 worker) or both (2 workers), wrk and redis-server the last CPU. Redis is an
embedded redis-server without persistence (nothing on disk in the measurement); the event stream is emptied
between cases. The markdown table is printed and written to loadtest/results/bench.md.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from loadtest.deployment import REPO
from shortlinks.codes import CodeGenerator
from shortlinks.link import Link, LinkDraft, LinkRules
from shortlinks.link_store import COUNTER, LAYOUT, LAYOUT_VERSION, link_key
from tracker.dev.embedded_redis import EmbeddedRedis, free_port
from tracker.events.streams import link_key_tags

LUA = Path(__file__).resolve().parent / "wrk" / "codes.lua"
RESULTS = Path(__file__).resolve().parent / "results" / "bench.md"
SECRET = "bench-secret-0123456789abcdef"
SHORT_BASE = "http://127.0.0.1"
BENCH_DOMAIN = "127.0.0.1"  # the host of SHORT_BASE: the links' short domain
CASES = ("a", "b", "c", "d", "e", "f")
LABELS = {
    "a": "(a) bare ASGI, fixed 302",
    "b": "(b) Starlette, fixed 302",
    "c": "(c) Starlette + redis-py GET",
    "d": "(d) edge, warm cache, fast",
    "e": "(e) edge, warm cache, ack",
    "f": "(f) edge, blast: every tap a new code, ack",
}
TEMPLATE = {
    "destination": "https://shop.example/p/sku-123?color=red#reviews",
    "utm": {"source": "klaviyo", "medium": "sms", "campaign": "bench", "content": "cart_item"},
    "message": "abandoned_cart",
    "tags": ["automation"],
}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


@dataclass
class Result:
    case: str
    workers: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    wrapped: int = 0
    connections: int = 0
    delay_ms: int = 0
    server_cpu_s: float = 0.0
    other_cpus: float = 0.0  # CPUs' worth of time other processes on the machine used during the measurement
    stream_entries: int | None = None
    round: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per answered request: unlike req/s, barely moved by what else the machine is doing."""
        return 1e6 * self.server_cpu_s / self.requests if self.requests else 0.0


def ensure_wrk() -> str:
    """wrk from Debian's packages, installed on first use (apt-get update only if the plain install fails)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True, timeout=300).returncode:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True, timeout=300, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("loadtest/bench: wrk is not installed and apt-get could not install it")
    return found


def cpu_plan(workers: int) -> tuple[set[int], set[int]]:
    """(server CPUs, load CPUs): the load generator and Redis on the last CPU, one worker alone on the first."""
    cpus = sorted(os.sched_getaffinity(0))
    load = {cpus[-1]}
    if workers == 1 and len(cpus) > 1:
        return {cpus[0]}, load
    return set(cpus), load


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's supervisor and its workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(child) for child in task.read_text().split()]
        except OSError:
            continue
        for child in children:
            found += process_tree(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the live processes `pids` have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent busy since boot (everything in /proc/stat's cpu line but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuSample:
    """Where the CPU time went during a measurement: the server's own, and whatever else ran on the machine."""

    wall: float
    busy: float
    server: float
    ours: float  # server + redis-server + wrk + this script

    @classmethod
    def take(cls, server_pids: list[int], redis_pid: int) -> CpuSample:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once waited for
        me = resource.getrusage(resource.RUSAGE_SELF)
        server = cpu_seconds(server_pids)
        ours = server + cpu_seconds([redis_pid]) + children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
        return cls(time.monotonic(), machine_busy_seconds(), server, ours)


def create_links(redis_url: str, count: int) -> list[str]:
    """`count` per-recipient links: the records `LinkStore` writes, under the keys it reads them by.

    Written straight with pipelined SETs, without the listing index the redirect never reads, so the
    hundreds of thousands of links a blast run needs take seconds. Recipient refs are opaque 128-bit hex
    strings, as `RecipientKeyer` makes them (without its phone-number parsing).
    """
    client = redis.Redis.from_url(redis_url)
    codes_of = CodeGenerator(SECRET)
    tags = link_key_tags(1)
    now = datetime.now(UTC)
    template = LinkDraft.from_json(TEMPLATE, LinkRules(), now=now, allow_recipient=False)
    last = int(client.incrby(COUNTER, count))
    codes: list[str] = []
    pipe = client.pipeline(transaction=False)
    for n in range(last - count + 1, last + 1):
        ref = hashlib.blake2b(f"recipient-{n}".encode(), digest_size=16).hexdigest()
        link = Link.from_draft(codes_of.encode(n), template.for_recipient(ref), now, BENCH_DOMAIN)
        pipe.set(link_key(BENCH_DOMAIN, link.code, tags), link.to_record())
        codes.append(link.code)
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    client.set(LAYOUT, f"{LAYOUT_VERSION}:{len(tags)}")  # these keys are the current layout: nothing to move at start
    client.close()
    return codes


def delete_links(redis_url: str, codes: list[str]) -> None:
    """Drop links a finished run used, so Redis does not grow run after run."""
    client = redis.Redis.from_url(redis_url)
    tags = link_key_tags(1)
    for start in range(0, len(codes), 10_000):
        client.unlink(*(link_key(BENCH_DOMAIN, code, tags) for code in codes[start:start + 10_000]))
    client.close()


class Server:
    """One case's server as a child process in its own group, pinned to `cpus`."""

    def __init__(self, command: list[str], env: dict[str, str], cpus: set[int], port: int, probe: str,
                 log: Path) -> None:
        self.port = port
        self.probe = probe
        self.log = log
        with log.open("wb") as output:  # a file, not a pipe: nobody reads it while the server runs
            self.process = subprocess.Popen(
                command, env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=lambda: os.sched_setaffinity(0, cpus),  # a syscall only: safe between fork and exec
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                connection.request("GET", self.probe)
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                time.sleep(0.05)  # a process we cannot be notified by: poll its port, bounded by the deadline
        raise RuntimeError(f"server on port {self.port} not ready after {START_TIMEOUT}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Bench:
    def __init__(self, args: argparse.Namespace, wrk: str, work: Path) -> None:
        self.args = args
        self.wrk = wrk
        self.work = work
        self.redis = EmbeddedRedis(work / "redis", extra_args=("--appendonly", "no"))
        self.codes: dict[str, Path] = {}
        self.results: list[Result] = []
        self.blast_links = args.blast_links  # links created for the next (f) run
        self.blast_codes: list[str] = []
        self.round = 1

    def setup(self) -> None:
        self.redis.start()
        assert self.redis.process is not None
        os.sched_setaffinity(self.redis.process.pid, cpu_plan(1)[1])
        started = time.monotonic()
        warm = create_links(self.redis.url, self.args.warm_links)
        print(f"created {len(warm)} warm links in {time.monotonic() - started:.1f}s", flush=True)
        self.codes["warm"] = self.work / "warm.txt"
        self.codes["warm"].write_text("\n".join(warm) + "\n")

    def fresh_blast_codes(self) -> Path:
        """Links no server has seen, for one (f) run; the previous run's links are deleted first."""
        if self.blast_codes:
            delete_links(self.redis.url, self.blast_codes)
        started = time.monotonic()
        self.blast_codes = create_links(self.redis.url, self.blast_links)
        print(f"  created {len(self.blast_codes):,} fresh blast links in {time.monotonic() - started:.1f}s",
              flush=True)
        path = self.work / "blast.txt"
        path.write_text("\n".join(self.blast_codes) + "\n")
        return path

    def server(self, case: str, workers: int) -> Server:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        env.update(PYTHONPATH=str(REPO), TRACKER_REDIS_URL=self.redis.url, TRACKER_SECRET=SECRET,
                   TRACKER_SHORT_BASE=SHORT_BASE, TRACKER_SPILL_DIR=str(self.work / "spill"))  # never ./data
        cpus = cpu_plan(workers)[0]
        if case in "abc":
            app = {"a": "bare", "b": "starlette", "c": "naive"}[case]
            command = [sys.executable, "-m", "loadtest.baselines", app, "--port", str(port), "--workers", str(workers),
                       "--redis-url", self.redis.url]
            return Server(command, env, cpus, port, "/probe", self.work / f"server-{case}-{workers}.log")
        env["TRACKER_DURABILITY"] = "fast" if case == "d" else "ack"
        command = [sys.executable, "-m", "tracker.cli", "edge", "--port", str(port), "--workers", str(workers),
                   "--metrics-port", "0"]
        return Server(command, env, cpus, port, "/healthz", self.work / f"server-{case}-{workers}.log")

    def wrk_run(self, server: Server, seconds: float, codes: Path, mode: str, workers: int, connections: int,
                delay_ms: int = 0) -> dict[str, float]:
        """One wrk run: its "BENCH" figures plus the server's CPU time and the CPU used by other processes."""
        env = {**os.environ, "BENCH_DELAY_MS": str(delay_ms)}
        command = [self.wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(LUA),
                   f"http://127.0.0.1:{server.port}", "--", str(codes), mode, "1"]
        load_cpus = cpu_plan(workers)[1]
        assert self.redis.process is not None
        server_pids = process_tree(server.process.pid)
        before = CpuSample.take(server_pids, self.redis.process.pid)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60,
                              preexec_fn=lambda: os.sched_setaffinity(0, load_cpus))
        after = CpuSample.take(server_pids, self.redis.process.pid)
        for line in done.stdout.splitlines():
            if line.startswith("BENCH "):
                parsed: dict[str, float] = json.loads(line[len("BENCH "):])
                parsed["server_cpu_s"] = after.server - before.server
                parsed["other_cpus"] = max(0.0, (after.busy - before.busy) - (after.ours - before.ours)) / (
                    after.wall - before.wall)
                return parsed
        raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")

    def to_result(self, case: str, workers: int, raw: dict[str, float], connections: int,
                  delay_ms: int = 0) -> Result:
        errors = int(raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["status_errors"]
                     + raw["timeouts"])
        return Result(case=case, workers=workers, requests=int(raw["requests"]), seconds=raw["duration_us"] / 1e6,
                      p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
                      max_ms=raw["max_us"] / 1000, errors=errors, wrapped=int(raw["wrapped"]),
                      connections=connections, delay_ms=delay_ms, server_cpu_s=raw["server_cpu_s"],
                      other_cpus=raw["other_cpus"], round=self.round)

    def clear_streams(self) -> int:
        """Entries the last edge run wrote (proof that it did the work), then empty the streams for the next."""
        client = redis.Redis.from_url(self.redis.url)
        keys = list(client.scan_iter("tracker:events:*"))
        entries = sum(int(client.xlen(key)) for key in keys)
        if keys:
            client.delete(*keys)
        client.close()
        return entries

    def run_case(self, case: str, workers: int) -> None:
        args = self.args
        server = self.server(case, workers)
        try:
            server.wait_ready()
            self.wrk_run(server, args.warmup, self.codes["warm"], "random", workers, args.connections)
            if case == "f":
                codes = self.fresh_blast_codes()
                raw = self.wrk_run(server, args.duration, codes, "sequential", workers, args.connections)
                # The next run gets half as many again as this one used, so it cannot run out either.
                self.blast_links = max(self.blast_links, int(raw["requests"] * 1.5) + args.connections)
            else:
                raw = self.wrk_run(server, args.duration, self.codes["warm"], "random", workers, args.connections)
            result = self.to_result(case, workers, raw, args.connections)
            self.results.append(result)
            print(f"  {LABELS[case]:<32} {workers}w {result.rps:>9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                  f"p99 {result.p99_ms:6.2f} ms  {result.cpu_us_per_request:5.1f} CPU us/req  errors {result.errors}  "
                  f"other load {result.other_cpus:.2f} CPU", flush=True)
            if case == "e":
                self.results.append(self.half_rate(server, workers, result))
        finally:
            server.stop()
        if case in "def":
            entries = self.clear_streams()
            for result in self.results:
                if (result.workers, result.round) == (workers, self.round) and result.case.startswith(case):
                    result.stream_entries = entries

    def half_rate(self, server: Server, workers: int, peak: Result) -> Result:
        """(e) at about half its peak: a fixed number of connections, each pausing `delay` ms before a request.

        A connection's cycle is the pause plus the response time, so a short pilot run measures the rate one
        connection really gives, and the connection count is set from it.
        """
        target = peak.rps / 2
        delay_ms = self.args.half_delay_ms
        pilot_connections = max(2, round(target * delay_ms / 1000))
        pilot = self.wrk_run(server, 2, self.codes["warm"], "random", workers, pilot_connections, delay_ms)
        per_connection = pilot["requests"] / (pilot["duration_us"] / 1e6) / pilot_connections
        connections = max(2, round(target / per_connection)) if per_connection else pilot_connections
        raw = self.wrk_run(server, self.args.duration, self.codes["warm"], "random", workers, connections, delay_ms)
        result = self.to_result("e-half", workers, raw, connections, delay_ms)
        result.notes.append(f"{100 * result.rps / peak.rps:.0f}% of the peak ({target:,.0f} req/s aimed); wrk "
                            f"-c{connections}, Lua delay() {delay_ms} ms before each request")
        print(f"  {'(e) at ~half of its peak':<32} {workers}w {result.rps:>9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
              f"p99 {result.p99_ms:6.2f} ms  ({result.notes[-1]})", flush=True)
        return result


def best_rounds(results: list[Result]) -> list[Result]:
    """Per case and worker count, the round with the most req/s: on a shared machine noise only slows a run down.
    The half-rate run is taken from the same round as the (e) peak it was paced from."""
    best: dict[tuple[str, int], Result] = {}
    for r in results:
        key = (r.case, r.workers)
        if r.case != "e-half" and (key not in best or r.rps > best[key].rps):
            best[key] = r
    for r in results:
        peak = best.get(("e", r.workers))
        if r.case == "e-half" and peak is not None and r.round == peak.round:
            best[(r.case, r.workers)] = r
    return sorted(best.values(), key=lambda r: (r.workers, r.case))


def find(results: list[Result], case: str, workers: int) -> Result | None:
    return next((r for r in results if r.case == case and r.workers == workers), None)


def ratio(results: list[Result], case: str, other: str, workers: int) -> float | None:
    """req/s of `case` over req/s of `other`, same worker count."""
    mine, base = find(results, case, workers), find(results, other, workers)
    if mine is None or base is None or not base.rps:
        return None
    return mine.rps / base.rps


def cpu_ratio(results: list[Result], case: str, other: str, workers: int) -> float | None:
    """The same comparison by server CPU per request (base / mine): robust to other load on a shared machine."""
    mine, base = find(results, case, workers), find(results, other, workers)
    if mine is None or base is None or not mine.cpu_us_per_request:
        return None
    return base.cpu_us_per_request / mine.cpu_us_per_request


def render(every_round: list[Result], args: argparse.Namespace, context: dict[str, str]) -> str:
    def x(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}x"

    def rounds(r: Result) -> str:
        return " / ".join(f"{o.rps:,.0f}" for o in every_round if (o.case, o.workers) == (r.case, r.workers))

    results = best_rounds(every_round)
    lines = [
        "# Redirect benchmark",
        "",
        *(f"- {name}: {value}" for name, value in context.items()),
        "",
        "| case | workers | req/s | p50 ms | p99 ms | vs (a) | vs (b) | server CPU us/req | other load (CPUs) "
        "| req/s of each round | errors | stream entries | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        half = r.case == "e-half"
        label = "(e) at ~half of its peak rate" if half else LABELS[r.case]
        notes = list(r.notes)
        if r.wrapped:
            notes.append(f"ran out of fresh codes {r.wrapped}x: later requests were warm")
        lines.append(
            f"| {label} | {r.workers} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{'' if half else x(ratio(results, r.case, 'a', r.workers))} | "
            f"{'' if half else x(ratio(results, r.case, 'b', r.workers))} | {r.cpu_us_per_request:.1f} | "
            f"{r.other_cpus:.2f} | {rounds(r)} | {r.errors} | "
            f"{'' if r.stream_entries is None else f'{r.stream_entries:,}'} | "
            f"{'; '.join(notes)} |"
        )
    lines += ["", "## Targets", "",
              "| target | workers | measured (req/s ratio) | by server CPU per request | met |",
              "|---|---:|---:|---:|---|"]
    checks: list[tuple[str, str, str, float]] = [
        ("blast (f) >= 0.7 x Starlette (b)", "f", "b", 0.7), ("blast (f) >= 2 x naive GET (c)", "f", "c", 2.0),
        ("warm ack (e) >= 0.9 x Starlette (b)", "e", "b", 0.9), ("warm fast (d) >= 1.0 x Starlette (b)", "d", "b", 1.0),
        ("warm ack (e) >= 3 x naive GET (c)", "e", "c", 3.0), ("warm fast (d) >= 3 x naive GET (c)", "d", "c", 3.0),
    ]
    for workers in args.workers:
        for name, case, other, need in checks:
            value = ratio(results, case, other, workers)
            if value is not None:
                lines.append(f"| {name} | {workers} | {value:.2f}x | {x(cpu_ratio(results, case, other, workers))} "
                             f"| {'yes' if value >= need else 'NO'} |")
        blast = find(results, "f", workers)
        if blast is not None:
            lines.append(f"| p99 of blast (f) <= 10 ms | {workers} | {blast.p99_ms:.2f} ms at {blast.rps:,.0f} req/s | "
                         f"| {'yes' if blast.p99_ms <= 10 else 'NO'} |")
        paced = find(results, "e-half", workers)
        if paced is not None:
            lines.append(f"| p99 of (e) at half its peak <= 5 ms | {workers} | {paced.p99_ms:.2f} ms at "
                         f"{paced.rps:,.0f} req/s | | {'yes' if paced.p99_ms <= 5 else 'NO'} |")
    return "\n".join(lines) + "\n"


def machine_context(args: argparse.Namespace, wrk: str) -> dict[str, str]:
    import starlette
    import uvicorn

    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    edited = subprocess.run(["git", "status", "--porcelain", "--", "tracker", "shortlinks"], cwd=REPO,
                            capture_output=True, text=True).stdout.split("\n")
    edited_files = [line[3:] for line in edited if line.strip()]
    return {
        "code": f"commit {head.strip() or 'unknown'}"
                + (f" plus uncommitted edits to {', '.join(edited_files)}" if edited_files else ", clean tree"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}",
        "software": f"Python {platform.python_version()}, uvicorn {uvicorn.__version__}, starlette "
                    f"{starlette.__version__}, uvloop + httptools, {' '.join(version) or 'wrk'}",
        "rounds": f"{args.rounds}; each row is the round with the most req/s (other processes on a shared machine "
                  "only ever slow a run down; 'other load' is the CPU they used meanwhile), 'req/s of each round' "
                  "shows them all",
        "load": f"wrk -t1 -c{args.connections}, {args.warmup:g} s warm-up then {args.duration:g} s per case, "
                f"keep-alive; warm cases pick at random among {args.warm_links:,} codes, the blast case taps "
                "links created just before its run, each once (at least "
                f"{args.blast_links:,}, more once a run shows it needs them)",
        "pinning": "1 worker: server on CPU 0, wrk and redis-server on CPU 1; 2 workers: server on both CPUs, wrk "
                   "and redis-server on CPU 1",
        "redis": "embedded redis-server, no AOF/RDB; event streams emptied between cases",
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="loadtest/bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per case (default: 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per case (default: 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default: 64)")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to run (default: 1,2)")
    parser.add_argument("--cases", default="".join(CASES), help="which of abcdef to run (default: all)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times every case is run; the table keeps, per case, its fastest round (default: 2)")
    parser.add_argument("--warm-links", type=int, default=1000, help="links of the warm cases (default: 1000)")
    parser.add_argument("--blast-links", type=int, default=200_000,
                        help="fresh links created for each blast (f) run, at least (default: 200000; raised "
                             "to 1.5x what a run used)")
    parser.add_argument("--half-delay-ms", type=int, default=2,
                        help="pause before each request of the half-rate run; sets how many connections it needs "
                             "(default: 2)")
    parser.add_argument("--out", default=str(RESULTS), help=f"markdown file to write (default: {RESULTS})")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    args.cases = [c for c in CASES if c in args.cases]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    started = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder:
        bench = Bench(args, wrk, Path(folder))
        try:
            bench.setup()
            for number in range(1, args.rounds + 1):
                bench.round = number
                for workers in args.workers:
                    print(f"round {number}, {workers} worker(s):", flush=True)
                    for case in args.cases:
                        bench.run_case(case, workers)
        finally:
            bench.redis.stop()
    context = machine_context(args, wrk)
    load_after = os.getloadavg()
    context["other load"] = (f"1-min load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (the bench "
                             "itself adds about 2); the machine is shared, so other processes can steal CPU")
    context["wall time"] = f"{time.monotonic() - started:.0f} s"
    table = render(bench.results, args, context)
    print()
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    rounds = out.with_name(out.stem + "-rounds.json")
    rounds.write_text(json.dumps([{**asdict(r), "rps": r.rps, "cpu_us_per_request": r.cpu_us_per_request}
                                  for r in bench.results], indent=1))
    print(f"written to {out} (every round: {rounds})")
    return 0
