"""Batch: /api/v1/events/batch, 500 events a request, from --connections client threads
sending back to back for --duration, against the events floor."""

import http.client
import json
import signal
import threading
import time
from typing import Any

from harness.api import code_for, customer_context, order_event, signup_event
from harness.bench import Bench
from harness.report import Figure, log, zero_figure

BATCH_SIZE = 500


def run(bench: Bench) -> None:
    server = bench.ensure_server()
    key = bench.keys["secret_key_test"]
    threads = bench.connections
    grace = max(20.0, 2.0 * bench.duration)
    log(
        f"batch: {threads} client threads, {BATCH_SIZE} events a request, "
        f"{bench.duration} s (cut at +{grace:.0f} s)"
    )
    event_sql = "SELECT count(*) FROM tracking_event"
    bench.wait_quiet(event_sql)
    watermark = int(bench.scalar("SELECT coalesce(max(id), 0) FROM tracking_event"))

    lock = threading.Lock()
    stats: dict[str, Any] = {
        "batches_done": 0,
        "batches_failed": 0,
        "batches_cut": 0,
        "events_answered": 0,
        "item_errors": 0,
        "http_errors": {},
        "last_response": 0.0,
        "error_samples": [],
    }
    done_orders: list[str] = []
    cut = threading.Event()
    start_mono = time.monotonic()
    deadline = start_mono + bench.duration
    hard_deadline = deadline + grace

    def client(thread: int) -> None:
        n = 0
        conn = http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=hard_deadline - time.monotonic() + 10
        )
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            while time.monotonic() < deadline and not cut.is_set():
                events: list[dict[str, Any]] = []
                orders: list[str] = []
                for _ in range(BATCH_SIZE // 2):
                    n += 1
                    ext = f"b{thread}-{n}"
                    code = code_for(bench.codes, thread, n)
                    context = customer_context(thread, n, "b")
                    events.append(signup_event(code, ext, context))
                    events.append(order_event(code, ext, context))
                    orders.append(f"o-{ext}")
                body = json.dumps({"events": events})
                try:
                    conn.request("POST", "/api/v1/events/batch", body, headers)
                    response = conn.getresponse()
                    raw = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        stats["batches_cut" if cut.is_set() else "batches_failed"] += 1
                        if not cut.is_set():
                            stats["error_samples"].append(repr(exc))
                    return
                try:
                    results = json.loads(raw).get("results", [])
                except (ValueError, AttributeError):
                    results = None
                with lock:
                    stats["last_response"] = time.monotonic()
                    if response.status != 200 or results is None:
                        stats["batches_failed"] += 1
                        codes = stats["http_errors"]
                        codes[response.status] = codes.get(response.status, 0) + 1
                        stats["error_samples"].append(raw[:300].decode(errors="replace"))
                        continue
                    stats["batches_done"] += 1
                    stats["events_answered"] += len(results)
                    bad = [item for item in results if "error" in item]
                    stats["item_errors"] += len(bad) + (len(events) - len(results))
                    stats["error_samples"].extend(json.dumps(item)[:300] for item in bad[:2])
                    done_orders.extend(orders)
        finally:
            conn.close()

    workers = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(0.0, hard_deadline - time.monotonic()))
    aborted = any(worker.is_alive() for worker in workers)
    if aborted:
        cut.set()
        end_mono = time.monotonic()
        log("  batches still running at the cut: stopping the server to end them")
        bench.stop_server(sig=signal.SIGKILL)
        for worker in workers:
            worker.join(timeout=15)
    else:
        end_mono = stats["last_response"] or time.monotonic()
        bench.sample_web_memory()
    elapsed = max(end_mono - start_mono, 1e-9)

    with bench.db() as conn:
        committed = conn.execute(
            "SELECT count(*) FROM tracking_event WHERE id > %s", (watermark,)
        ).fetchone()
        orderless = conn.execute(
            "SELECT count(*) FROM tracking_event e WHERE e.id > %s AND e.type = 'order' "
            "AND (SELECT count(*) FROM tracking_order o WHERE o.event_id = e.id) <> 1",
            (watermark,),
        ).fetchone()
        rows = conn.execute(
            "SELECT order_id, count(*) FROM tracking_order "
            "WHERE project_id = %s AND order_id = ANY(%s) GROUP BY order_id",
            (bench.ids["project"], done_orders),
        ).fetchall()
    committed_events = int(committed[0]) if committed else 0
    present: dict[str, int] = dict(rows)
    missing = len(set(done_orders) - present.keys())
    duplicated = sum(1 for n in present.values() if n != 1)
    bad_orders = missing + duplicated + (int(orderless[0]) if orderless else 0)
    rate = committed_events / elapsed
    errors = stats["item_errors"] + stats["batches_failed"]

    r = bench.report
    r.add(
        Figure(
            "batch events/s",
            rate,
            "events/s",
            bench.floor.tps if bench.floor else None,
            "pgbench",
            "value",
            ">=",
            10000,
        )
    )
    r.add(zero_figure("batch errors", errors))
    r.add(zero_figure("batch orders without 1 row", bad_orders, len(done_orders), "orders"))
    r.details["batch"] = {
        **{k: v for k, v in stats.items() if k not in {"error_samples", "last_response"}},
        "error_samples": stats["error_samples"][:5],
        "threads": threads,
        "seconds": elapsed,
        "events_committed": committed_events,
        "cut_at_bound": aborted,
        "orders_in_answered_batches": len(done_orders),
        "orders_missing": missing,
        "orders_duplicated": duplicated,
        "order_events_without_one_row": int(orderless[0]) if orderless else None,
    }
    log(
        f"  {committed_events} events committed in {elapsed:.1f} s; batches answered "
        f"{stats['batches_done']}, failed {stats['batches_failed']}, "
        f"cut {stats['batches_cut']}"
    )
    if aborted:
        r.problem(
            f"batch: {stats['batches_cut']} batches were still running {grace:.0f} s after "
            f"the {bench.duration} s window and were cut by stopping the server; events/s "
            "counts the events committed until then"
        )
    if errors:
        r.problem(
            f"batch: {errors} errors (failed requests or error items): {stats['error_samples'][:2]}"
        )
    if bad_orders:
        r.problem(
            f"batch orders: {missing} missing, {duplicated} duplicated, "
            f"{orderless[0] if orderless else '?'} order events without one row"
        )
