"""Where a branch's CPU goes under load over HTTP (what bench/profile.py cannot show: gunicorn, the HTTP parsing,
every middleware): py-spy samples every gunicorn worker of branch B001 while wrk runs the sale (central down) and
the stock read for SECONDS each, and the inclusive share of the top functions is written to docs/profiles/.

    .venv/bin/python bench/profile_http.py     (needs `make bench-setup` once: py-spy is in bench/requirements.txt)
"""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from common import ROOT, begin, stamp, wrk

from harness.chain import ProcessChain

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
PROFILES = ROOT / "docs" / "profiles"
TOP = 30
SALE = json.dumps({"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1"}]})


def _record(pid: int, out: Path) -> subprocess.Popen:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "100"]
    argv += ["--duration", str(SECONDS), "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _summary(collapsed: Path, title: str, load) -> str:
    """Inclusive share of samples per function (a function counted once per stack, however deep it recurs)."""
    counts, total = Counter(), 0
    for line in collapsed.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        total += int(number)
        frames = {
            frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0] + ")"
            for frame in stack.split(";")
            if not frame.startswith("process ")  # --subprocesses puts the process first: not a function
        }
        for frame in frames:
            counts[frame] += int(number)
    lines = [
        f"# bench/profile_http.py, {stamp()}: {title}",
        f"# wrk, 8 connections, {SECONDS} s, while sampled (py-spy costs CPU, so slower than bench/sales.py): "
        f"{load.requests_per_s:,.0f}/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms",
        f"# py-spy, every gunicorn process of the branch, {total:,} samples (busy only); inclusive share per function",
        "",
    ]
    lines += [f"{count / total:6.1%}  {frame}" for frame, count in counts.most_common(TOP)]
    return "\n".join(lines) + "\n"


def main() -> None:
    root = begin(f"py-spy over HTTP, {SECONDS} s per run")
    chain = ProcessChain(root / "ours", branches=("B001",), web_workers=int(os.environ.get("BENCH_WEB_WORKERS", "4")))
    try:
        chain.prepare().start()
        branch = chain.webs["B001"]
        chain.receive("B001", {"BEB-AGUA-2L": "10000000"})
        auth = f"Token {chain.cashier_tokens['B001']}"
        sale_url, read_url = f"{branch.url}/api/v1/sales", f"{branch.url}/api/v1/stock/BEB-AGUA-2L"
        wrk(sale_url, body=SALE, auth=auth, seconds=3)  # warm-up, as bench/sales.py
        wrk(read_url, auth=auth, seconds=3)
        chain.central_web.kill()
        for name, url, body in (("sale", sale_url, SALE), ("stock-read", read_url, None)):
            collapsed = root / f"{name}.collapsed"
            recorder = _record(branch.popen.pid, collapsed)
            load = wrk(url, body=body, auth=auth, seconds=SECONDS)
            recorder.wait(timeout=SECONDS + 30)
            text = _summary(collapsed, f"branch {name}{', central down' if name == 'sale' else ''}", load)
            (PROFILES / f"http-branch-{name}.txt").write_text(text)
            print(text, flush=True)
    finally:
        chain.stop()


if __name__ == "__main__":
    main()
