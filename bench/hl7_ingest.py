"""HL7 ingest benchmark: ORM^O01 messages per second with ACK through the real `runhl7` listener.

One and four connections, on SQLite and on PostgreSQL, next to a floor measured in the same run: a bare
MLLP server (same framing code) that answers every frame with a fixed ACK and does nothing else.

    .venv/bin/python bench/hl7_ingest.py [--quick] [--messages N]
    .venv/bin/python bench/hl7_ingest.py --side-by-side /work/wt/write-base [--rounds 7] [--messages 1500]

--side-by-side TREE: PostgreSQL, one connection only, this tree's listener (with both ways of writing new
orders) and TREE's (a checkout of the previous main), each on its own scratch database, driven in turn,
round after round, each round next to PostgreSQL's durable INSERT+COMMIT ceiling measured in that round.

Uses a scratch data dir under bench/.work/hl7_ingest and a scratch PostgreSQL database broker_bench_hl7
(created and migrated here, another name with --pg-database; skipped with a note when no server answers on
127.0.0.1:5432).
Only 127.0.0.1 is ever contacted.
"""
import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.report import ratio, write_section  # noqa: E402
from bench.support import cpu_seconds  # noqa: E402
from broker.core.hl7v2.mllp import FrameDecoder, MLLPClient, frame  # noqa: E402

WORK = BASE_DIR / "bench" / ".work" / "hl7_ingest"
FLOOR_ACK = b"MSH|^~\\&|BROKER|RADIOLOGY|RIS|HOSP|20260101000000||ACK^O01|1|P|2.3.1\rMSA|AA|1\r"


def order_message(run: str, n: int, patients: str | None = None) -> bytes:
    """A v2.3.1 NW as a RIS sends it: new order, one of 500 patients (so most already exist); `patients` names
    the set of 500 (default: the run's own)."""
    p = n % 500
    segments = [
        f"MSH|^~\\&|BENCH_RIS|HOSP|BROKER|RADIOLOGY|20260312081502||ORM^O01|{run}-{n}|P|2.3.1||||||UNICODE UTF-8",
        f"PID|1||BP{patients or run}{p:04d}^^^HOSP^MR||Müller^Jürgen{p}^K||19620415|M",
        "PV1|1|O|RAD^R12^1||||0815^Weiß^Anna^^^Dr.|||||||||||V556677",
        f"ORC|NW|{run}O{n}^BENCH||||SC||^^^20260315093000^^R||20260312081500|||0815^Weiß^Anna^^^Dr.",
        f"OBR|1|{run}O{n}^BENCH||CTHEAD^CT head^99LOCAL^CTH^CT head routine^99PROT||||||||||||||{run[-4:]}{n}|"
        f"RP{n}|SPS{n}||||CT|||^^^20260315093000^^R",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


# --- the floor: a bare MLLP server in its own process ---------------------------------------------------------------

async def _floor_server():
    async def serve(reader, writer):
        decoder = FrameDecoder(10 * 1024 * 1024)
        while data := await reader.read(65536):
            for _ in decoder.feed(data):
                writer.write(frame(FLOOR_ACK))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(f"floor ready on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def start_process(argv, env=None, ready=r"ready on [\d.]+:(\d+)", cwd=BASE_DIR):
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{argv} exited: {''.join(lines)}")
        lines.append(line)
        match = re.search(ready, line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep the pipe drained
            return proc, int(match.group(1))


def stop_process(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the client -----------------------------------------------------------------------------------------------------

def drive(port: int, messages: list[bytes], connections: int) -> tuple[float, list[float]]:
    """Send all messages over `connections` connections (one message in flight each); msgs/s and latencies."""
    shares = [messages[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = []
    barrier = threading.Barrier(connections + 1)

    def run(i):
        try:
            with MLLPClient("127.0.0.1", port, timeout=60) as client:
                barrier.wait()
                for message in shares[i]:
                    t = time.perf_counter()
                    ack = client.send(message)
                    latencies[i].append(time.perf_counter() - t)
                    if b"MSA|AA" not in ack:
                        errors.append(ack)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} messages not accepted, first: {errors[0]!r}")
    return len(messages) / elapsed, [x for lane in latencies for x in lane]


def prepare_database(name: str, env: dict, pg_database: str, tree: Path = BASE_DIR) -> None:
    if name == "postgres":
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {pg_database}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=tree, env=env, check=True)


def postgres_commit_rate(count: int, pg_database: str, table: str = "commit_floor") -> float:
    """The database's own ceiling for one connection: one-row INSERT + durable COMMIT, nothing else."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={pg_database}") as conn:
        conn.execute(f"CREATE TABLE {table} (n integer)")
        conn.commit()
        started = time.perf_counter()
        for n in range(count):
            conn.execute(f"INSERT INTO {table} VALUES (%s)", (n,))
            conn.commit()
        return count / (time.perf_counter() - started)


def postgres_available() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False



def measure(label: str, port: int, run: str, count: int, warmup: int, results: list, floor: dict, pid: int) -> None:
    for connections in (1, 4):
        tag = f"{run}{connections}"
        drive(port, [order_message(tag + "w", n) for n in range(warmup)], connections)
        cpu_before = cpu_seconds(pid)
        rate, latencies = drive(port, [order_message(tag, n) for n in range(count)], connections)
        cpu_ms = (cpu_seconds(pid) - cpu_before) / count * 1000
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        if label == "floor (bare MLLP, no work)":
            floor[connections] = rate
        load = os.getloadavg()[0]  # the machine is shared: how busy it was while this row was measured
        results.append((label, connections, rate, p50, p99, cpu_ms, load))
        print(f"{label:30s} {connections} conn: {rate:8.0f} msg/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
              f"server CPU {cpu_ms:.2f} ms/msg  load {load:.1f}", flush=True)


def side_by_side(base_tree: Path, rounds: int, count: int, pg_database: str) -> None:
    """This tree and the previous main's, PostgreSQL, one connection, alternately; median ratio to the ceiling."""
    import psycopg

    base_rev = subprocess.run(["git", "-C", str(base_tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    head_rev = subprocess.run(["git", "-C", str(BASE_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    variants = [  # label, tree, extra environment
        (f"previous main ({base_rev}): one-statement upsert path", base_tree, {}),
        (f"this branch ({head_rev}): fast path for a known patient, ORM otherwise", BASE_DIR, {}),
        (f"this branch ({head_rev}): ORM only (`BROKER_HL7_ORDER_WRITES=orm`)", BASE_DIR,
         {"BROKER_HL7_ORDER_WRITES": "orm"}),
    ]
    load_at_start = os.getloadavg()[0]
    run = f"{int(time.time()) % 100000:05d}"
    listeners = []
    try:
        for n, (label, tree, extra) in enumerate(variants):
            database = f"{pg_database}_{n}"
            env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
            env.update(extra, BROKER_LOG_LEVEL="WARNING", BROKER_DATA_DIR=str(WORK / f"side{n}"),
                       DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}")
            prepare_database("postgres", env, database, tree)
            proc, port = start_process([sys.executable, "manage.py", "runhl7", "--host", "127.0.0.1", "--port", "0"],
                                       env, cwd=tree)
            listeners.append((label, database, proc, port))
            drive(port, [order_message(f"{run}W{n}", m, run) for m in range(500)], 1)  # warm-up: the 500 patients exist
        ratios = {label: [] for label, *_ in listeners}
        rates = {label: [] for label, *_ in listeners}
        cpu_ms = {label: [] for label, *_ in listeners}
        ceilings = []
        for r in range(rounds):
            order = listeners if r % 2 == 0 else listeners[::-1]  # alternate who goes first
            ceiling = postgres_commit_rate(1000, listeners[0][1], table=f"commit_floor_{r}")
            ceilings.append(ceiling)
            for label, _, proc, port in order:
                cpu_before = cpu_seconds(proc.pid)
                rate, _ = drive(port, [order_message(f"{run}R{r}", m, run) for m in range(count)], 1)
                cpu_ms[label].append((cpu_seconds(proc.pid) - cpu_before) / count * 1000)
                rates[label].append(rate)
                ratios[label].append(rate / ceiling)
                print(f"round {r + 1}: {label}: {rate:,.0f}/s = {rate / ceiling:.3f}× of {ceiling:,.0f}/s  "
                      f"CPU {cpu_ms[label][-1]:.2f} ms/message  load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for _, _, proc, _ in listeners:
            stop_process(proc)
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            for _, database, _, _ in listeners:
                conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    rows = "\n".join(f"| {label} | {statistics.median(rates[label]):,.0f} | **{statistics.median(ratios[label]):.3f}×** | "
                     f"{min(ratios[label]):.3f}–{max(ratios[label]):.3f}× | {statistics.median(cpu_ms[label]):.2f} |"
                     for label, *_ in listeners)
    markdown = f"""### Side by side with the previous main (`--side-by-side`)

PostgreSQL, one connection, the same ORM^O01 new orders as above (500 patients, created by a warm-up of 500 messages, so each
measured message's patient exists and the message leaves it unchanged), {count:,} messages per variant per round,
{rounds} rounds; the {len(listeners)} listeners (each its own scratch database, all started before the first round)
are driven in turn, the order reversed every other round, and each round first measures PostgreSQL's own
single-connection durable INSERT+COMMIT ceiling (median {statistics.median(ceilings):,.0f}/s, range
{min(ceilings):,.0f}–{max(ceilings):,.0f}/s). Ratio = messages/s ÷ that round's ceiling. Load average
{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on 2 cores shared with other work. The last
column is the listener process's own CPU time per message (median over the rounds), which that load inflates least.

| listener | messages/s (median) | median ratio to the commit ceiling | range over the rounds | listener CPU ms/message |
| --- | ---: | ---: | ---: | ---: |
{rows}

Target: at least 0.15× of the ceiling on one connection."""
    write_section("hl7_ingest_side_by_side", markdown)


def main():
    if "--floor-server" in sys.argv:
        asyncio.run(_floor_server())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (fewer messages)")
    parser.add_argument("--messages", type=int, default=None, help="messages per measurement")
    parser.add_argument("--pg-database", default="broker_bench_hl7", help="scratch PostgreSQL database (dropped)")
    parser.add_argument("--side-by-side", type=Path, default=None, metavar="TREE",
                        help="PostgreSQL, one connection: this tree against TREE (the previous main), alternately")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of --side-by-side")
    args = parser.parse_args()
    if args.side_by_side:
        WORK.mkdir(parents=True, exist_ok=True)
        side_by_side(args.side_by_side.resolve(), args.rounds, args.messages or 1500, args.pg_database)
        return
    count = args.messages or (600 if args.quick else 4000)
    warmup = 100 if args.quick else 300
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    results, floor = [], {}
    commit_floor = commit_load = None
    load_at_start = os.getloadavg()[0]
    run = f"{int(time.time()) % 100000:05d}"

    proc, port = start_process([sys.executable, __file__, "--floor-server"])
    try:
        measure("floor (bare MLLP, no work)", port, run + "F", count, warmup, results, floor, proc.pid)
    finally:
        stop_process(proc)

    databases = [("sqlite", {"BROKER_DATA_DIR": str(WORK / "sqlite")})]
    if postgres_available():
        pg_url = f"postgres://postgres@127.0.0.1:5432/{args.pg_database}"
        databases.append(("postgres", {"BROKER_DATA_DIR": str(WORK / "postgres"), "DATABASE_URL": pg_url}))
    else:
        print("PostgreSQL not reachable on 127.0.0.1:5432: its rows are left out")
    for name, extra in databases:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(extra, BROKER_LOG_LEVEL="WARNING")
        prepare_database(name, env, args.pg_database)
        # The audit trail on (the default) and off, in the same run: what one audit event per message costs.
        for audit in ("true", "false"):
            label = f"runhl7 + {name}" + ("" if audit == "true" else ", BROKER_AUDIT=false")
            proc, port = start_process([sys.executable, "manage.py", "runhl7", "--host", "127.0.0.1", "--port", "0"],
                                       {**env, "BROKER_AUDIT": audit})
            try:
                measure(label, port, run + name[0].upper() + audit[0], count, warmup, results, floor, proc.pid)
            finally:
                stop_process(proc)
        if name == "postgres":
            commit_floor = postgres_commit_rate(min(count, 1000), args.pg_database)
            commit_load = os.getloadavg()[0]
            print(f"PostgreSQL durable INSERT+COMMIT, 1 connection: {commit_floor:.0f}/s  load {commit_load:.1f}",
                  flush=True)
    if any(name == "postgres" for name, _ in databases):
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {args.pg_database} WITH (FORCE)")

    rows = "\n".join(f"| {label} | {conns} | {rate:,.0f} | {ratio(rate, floor[conns])} | {p50:.2f} | {p99:.2f} | "
                     f"{cpu:.2f} | {load:.1f} |" for label, conns, rate, p50, p99, cpu, load in results)
    pg_rate = next((r for label, c, r, *_ in results if label == "runhl7 + postgres" and c == 1), None)
    commit_line = (f"PostgreSQL's own ceiling for one connection in the same run — a one-row INSERT and a durable "
                   f"COMMIT in a loop, nothing else — was **{commit_floor:,.0f}/s** "
                   f"(load average {commit_load:.1f}; the listener reaches {ratio(pg_rate, commit_floor)} of it)."
                   if commit_floor else "")
    verdict = (f"Target ≥ 1,000 ORM^O01/s on one connection with PostgreSQL: **{pg_rate:,.0f}/s — "
               f"{'met' if pg_rate >= 1000 else 'not met'}**." if pg_rate else "PostgreSQL was not measured.")
    markdown = f"""ORM^O01 new orders (v2.3.1, UTF-8, one procedure, 500 patients so most already exist) sent over MLLP to the
real `manage.py runhl7` process; each message waits for its ACK (one in flight per connection, as MLLP
senders do). Every AA is sent after the message's transaction committed: PostgreSQL with its default
`synchronous_commit=on` (WAL flushed to disk), SQLite in WAL mode with `synchronous=NORMAL` (survives a
killed process; the last commits may be lost on power failure). {count:,} messages per row after {warmup} warm-up
messages; the floor is a bare MLLP server answering a fixed ACK, measured in the same run with the same client.

| server | connections | messages/s | vs floor | p50 latency ms | p99 latency ms | listener CPU ms/message | load average |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

{verdict} {commit_line} On PostgreSQL a new order is one statement that is its own durable commit (one
round trip; docs/hl7.md says where the rest of the time goes). One connection waits for each commit's WAL
flush before the next message can come, so its rate cannot exceed the commit ceiling; four connections
share flushes (group commit).
The client, the listener and the database share the machine's two cores, and other work ran beside them
(load average {load_at_start:.1f} at the start; the last column is the 1-minute load average after each
row): the CPU column is the listener process's own CPU time per message, which that load inflates least."""
    write_section("hl7_ingest", markdown)


if __name__ == "__main__":
    main()
