"""Start and stop the gunicorn servers, drive ``wrk`` at them and parse what it prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class LoadResult:
    """One wrk run: throughput, latency percentiles (ms), counts."""

    rps: float
    p50: float
    p99: float
    requests: int
    errors: int


def gunicorn_cmd(app: str, port: int, workers: int = 2, threads: int = 0) -> list[str]:
    """The command line both servers of a bench run with: the bench config (no access log),
    sync workers, or gthread workers with ``threads`` threads each."""
    kind = ["-k", "gthread", "--threads", str(threads)] if threads else ["-k", "sync"]
    return [sys.executable, "-m", "gunicorn", "-c", str(BENCH / "gunicorn.conf.py"),
            "-w", str(workers), *kind, "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT), app]


@contextmanager
def server(app: str, port: int, env: dict[str, str], log: Path, probe: str, threads: int = 0):
    """Run gunicorn serving ``app`` until the block ends; wait until ``probe`` answers 200."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(gunicorn_cmd(app, port, threads=threads),
                                env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}{probe}", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 60) -> None:
    """Poll ``url`` until it returns 200; fail with the server log if the server dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (local URL)
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def wrk_path() -> str:
    """The wrk binary (``scripts/system-deps --bench`` installs it)."""
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk not found: run scripts/system-deps --bench (apt-get install wrk)")
    return found


def run_wrk(base_url: str, paths_file: Path, seconds: float, connections: int,
            threads: int) -> LoadResult:
    """Load ``base_url`` with random paths from ``paths_file``; return the parsed figures."""
    cmd = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "10s", "-s", str(BENCH / "paths.lua"), base_url,
           "--", str(paths_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(text: str) -> LoadResult:
    """Parse ``wrk --latency`` output: Requests/sec, the 50% and 99% lines, errors."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    pct = {m[1]: _ms(m[2], m[3]) for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$",
                                                       text, re.MULTILINE)}
    if not (rps and total and "50" in pct and "99" in pct):
        raise ValueError(f"unexpected wrk output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        text)
    errors = (int(non2xx[1]) if non2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return LoadResult(float(rps[1]), pct["50"], pct["99"], int(total[1]), errors)


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]
