"""What the chain simulator itself costs in CPU (harness/chainsim.py), without central: N simulated branches
against a stand-in central in another process that answers as central's gunicorn does (sync workers: one
connection per request, closed after the answer; a share of the pushes refused with 503 and Retry-After, as its
admission limit does), at once or after a random delay (``SIM_COST_ANSWER_DELAY_S``, the mean: an overloaded
central, with hundreds of requests waiting at once). Phases: steady (selling, every request answered), outage
(the stand-in stopped: every request refused at connect, the branches keep selling and back off) and return
(every queued event pushed again, 500 at a time, selling goes on). Prints per phase the simulator process's CPU
(``time.process_time``: all of this process, which runs nothing but the simulator) in cores and per request.

    .venv/bin/python bench/sim_cost.py
    SIM_COST_BRANCHES=500 SIM_COST_STEADY_S=30 SIM_COST_OUTAGE_S=20 SIM_COST_REFUSE_EVERY=3 SIM_COST_ANSWER_DELAY_S=0

Where the CPU goes: run it under ``py-spy record -f raw -o stacks.txt -- .venv/bin/python bench/sim_cost.py``.
"""

import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.chainsim import SimChain, SimSettings  # noqa: E402
from harness.processes import LOOPBACK, poll, port_free  # noqa: E402

BRANCHES = int(os.environ.get("SIM_COST_BRANCHES", "500"))
STEADY_S = float(os.environ.get("SIM_COST_STEADY_S", "30"))
OUTAGE_S = float(os.environ.get("SIM_COST_OUTAGE_S", "20"))
# Every n-th push is answered 503 + Retry-After: 1 (0: none), as central's admission limit does when it is full.
REFUSE_EVERY = int(os.environ.get("SIM_COST_REFUSE_EVERY", "3"))
ANSWER_DELAY_S = float(os.environ.get("SIM_COST_ANSWER_DELAY_S", "0"))

PUSHED = b'{"accepted": 1, "duplicates": 0, "conflicts": [], "rejected": [], "high_water_seq": 1, "missing_seqs": []}'
REFUSED = b'{"code": "overloaded", "detail": "all sync slots busy", "fields": {}}'


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: list[int]) -> None:
    """One request, one answer, then the connection is closed (gunicorn's sync worker)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        fields = dict(line.lower().split(":", 1) for line in lines if ":" in line)
        length = int(fields.get("content-length", 0))
        if length:
            await reader.readexactly(length)
        status, extra, body = "200 OK", "", PUSHED
        if method == "GET":
            since = target.partition("since=")[2].partition("&")[0] or "0"
            body = b'{"changes": [], "next_cursor": %d}' % int(since)
        else:
            counter[0] += 1
            if REFUSE_EVERY and counter[0] % REFUSE_EVERY == 0:
                status, extra, body = "503 Service Unavailable", "Retry-After: 1\r\n", REFUSED
        if ANSWER_DELAY_S:
            await asyncio.sleep(random.uniform(0, 2 * ANSWER_DELAY_S))
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}"
            "Connection: close\r\n\r\n".encode("latin-1")
            + body
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def stand_in_central(port: int) -> None:
    counter = [0]
    server = await asyncio.start_server(lambda r, w: _answer(r, w, counter), LOOPBACK, port, backlog=4096)
    async with server:
        await server.serve_forever()


def stand_in_start(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, __file__, "--stand-in", str(port)])
    poll(lambda: _listening(port), timeout=20, what="the stand-in central listening")
    return process


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) == 0


class Phase:
    def __init__(self, name: str, sim: SimChain) -> None:
        self.name, self.sim = name, sim
        self.statuses = dict(sim.stats.statuses)
        self.events = sim.stats.events_made
        self.wall, self.cpu = time.monotonic(), time.process_time()

    def row(self) -> str:
        wall, cpu = time.monotonic() - self.wall, time.process_time() - self.cpu
        seen = {key: n - self.statuses.get(key, 0) for key, n in self.sim.stats.statuses.items()}
        ok = sum(n for (_, status), n in seen.items() if status == 200)
        refused = sum(n for (_, status), n in seen.items() if status in (429, 503))
        failed = sum(n for (_, status), n in seen.items() if not isinstance(status, int))
        requests = ok + refused + failed
        per_request = f"{cpu * 1000 / requests:.2f}" if requests else "–"
        return (
            f"| {self.name} | {wall:.0f} | {self.sim.stats.events_made - self.events:,} | {ok:,} / {refused:,} / "
            f"{failed:,} | {cpu / wall:.2f} | {per_request} |"
        )


async def run(url: str, port: int, process: subprocess.Popen) -> tuple[list[str], subprocess.Popen]:
    credentials = {f"S{number:04d}": f"credential-{number}" for number in range(1, BRANCHES + 1)}
    sim = SimChain(url, credentials, SimSettings())
    rows = []
    sim.start()
    try:
        phase = Phase("warm-up (opening receipts)", sim)
        await sim.drained(timeout=120)
        rows.append(phase.row())

        phase = Phase(f"steady: {BRANCHES} × 1 sale / 2 s", sim)
        await sim.sell_for(STEADY_S)
        rows.append(phase.row())

        process.terminate()
        process.wait()
        phase = Phase("outage (connections refused)", sim)
        await sim.sell_for(OUTAGE_S)
        rows.append(phase.row())
        queued = sim.pending()

        process = await asyncio.to_thread(stand_in_start, port)
        phase = Phase(f"return ({queued:,} queued, selling goes on)", sim)
        selling = asyncio.create_task(sim.sell_for(300))
        await sim.drained(timeout=300, upto=sim.marks())
        for branch in sim.branches:
            branch.selling = False
        await selling
        rows.append(phase.row())
        if sim.stats.problems:
            rows.append(f"PROBLEMS: {sim.stats.problems[:5]}")
    finally:
        await sim.close()
    return rows, process


def main() -> None:
    if sys.argv[1:2] == ["--stand-in"]:
        asyncio.run(stand_in_central(int(sys.argv[2])))
        return
    port = port_free()
    process = stand_in_start(port)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {BRANCHES} branches, steady {STEADY_S:g} s, "
        f"outage {OUTAGE_S:g} s, every {REFUSE_EVERY or 'no'}th push refused, answers after {ANSWER_DELAY_S:g} s on "
        f"average; load {os.getloadavg()}",
        flush=True,
    )
    try:
        rows, process = asyncio.run(run(f"http://{LOOPBACK}:{port}", port, process))
    finally:
        process.terminate()
        process.wait()
    print("| phase | s | events made | requests: ok / 503 / failed | simulator CPU (cores) | CPU ms per request |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
