"""Events: wrk POSTing a signup/order mix to /api/v1/events against pgbench running the
same writes and row locks in SQL (benchmarks/sql/event.sql, the floor)."""

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from harness.api import code_for, customer_context, http_json, signup_event
from harness.bench import Bench
from harness.floor import EVENT_SQL
from harness.report import Figure, log, zero_figure


def run(bench: Bench) -> None:
    server = bench.ensure_server()
    key = bench.keys["secret_key_test"]
    log(f"events: pgbench floor, {bench.connections} clients")
    event_sql = "SELECT count(*) FROM tracking_event"
    bench.wait_quiet(event_sql)
    defines = {"i": 0, "run": int(time.time()) % 1000, **bench.ids}
    bench.floor = bench.pgbench(
        EVENT_SQL,
        clients=bench.connections,
        threads=2,
        defines=defines,
        label="event-floor",
    )
    floor = bench.floor

    lag = max(8, math.ceil(bench.connections / bench.wrk_threads))
    log(f"events: signing up customers 1..{lag} of each wrk thread (the orders' head start)")

    def presign(item: tuple[int, int]) -> int:
        thread, n = item
        ext = f"c{thread}-{n}"
        body = signup_event(code_for(bench.codes, thread, n), ext, customer_context(thread, n, ""))
        status, _ = http_json("POST", f"{server.url}/api/v1/events", body, key=key, timeout=60)
        return status

    pairs = [(t, n) for t in range(bench.wrk_threads) for n in range(1, lag + 1)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(presign, pairs))
    if any(status != 201 for status in statuses):
        bench.report.problem(f"pre-run signups answered {sorted(set(statuses))}")

    log("events: wrk POST /api/v1/events")
    before = bench.wait_quiet(event_sql)
    result = bench.wrk("events.lua", server.url, [str(bench.workdir / "codes.txt"), key, str(lag)])
    after = bench.wait_quiet(event_sql)
    bench.sample_web_memory()

    ok = result.rate(lambda s: 200 <= s < 300)
    errors = result.count(lambda s: not 200 <= s < 300) + result.socket_error_total
    sent_orders: dict[int, int] = {}
    sent_total = 0
    for line in result.extra:
        _, thread, signups, orders = line.split()
        sent_orders[int(thread)] = int(orders)
        sent_total += int(signups) + int(orders)
    sent = {f"o-c{t}-{n}" for t, count in sent_orders.items() for n in range(1, count + 1)}
    answered = set(result.answered)
    with bench.db() as conn:
        rows = conn.execute(
            "SELECT order_id, count(*) FROM tracking_order "
            "WHERE project_id = %s AND order_id LIKE 'o-c%%' GROUP BY order_id",
            (bench.ids["project"],),
        ).fetchall()
        unrewarded = conn.execute(
            "SELECT count(*) FROM tracking_order o WHERE o.project_id = %s "
            "AND o.order_id LIKE 'o-c%%' AND NOT EXISTS (SELECT 1 FROM rewards_reward r "
            "WHERE r.order_id = o.id AND r.status = 'issued')",
            (bench.ids["project"],),
        ).fetchone()
    present: dict[str, int] = dict(rows)
    # An order answered 2xx must have exactly one row; one still in flight (or never
    # written) when wrk stopped may or may not have reached the server.
    missing = len(answered - present.keys())
    duplicated = sum(1 for n in present.values() if n != 1)
    unexpected = len(present.keys() - sent)
    orders_bad = missing + duplicated + unexpected
    unanswered = sent - answered
    unanswered_done = len(unanswered & present.keys())

    r = bench.report
    r.add(Figure("events/s", ok, "events/s", floor.tps, "pgbench", "ratio", ">=", 0.40))
    r.add(Figure("events p50 ms", result.p50_ms, "ms", floor.p50_ms, "pgbench"))
    r.add(Figure("events p99 ms", result.p99_ms, "ms", floor.p99_ms, "pgbench"))
    r.add(zero_figure("events errors (non-2xx)", errors))
    r.add(zero_figure("events orders without 1 row", orders_bad, len(answered), "answered"))
    r.details["events"] = {
        "floor": asdict(floor),
        "wrk": {
            "statuses": result.statuses,
            "socket_errors": result.socket_errors,
            "requests": result.requests,
            "seconds": result.seconds,
            "sent": sent_total,
            "lag": lag,
        },
        "events_recorded": after - before,
        "orders": {
            "sent": len(sent),
            "answered_2xx": len(answered),
            "answered_without_row": missing,
            "with_more_than_one_row": duplicated,
            "rows_not_sent": unexpected,
            "unanswered": len(unanswered),
            "unanswered_with_row": unanswered_done,
            "without_issued_referrer_reward": unrewarded[0] if unrewarded else None,
        },
    }
    log(
        f"  {result.requests} answered of {sent_total} sent; orders answered "
        f"{len(answered)} (without a row: {missing}, duplicated: {duplicated}); "
        f"{len(unanswered)} unanswered at wrk's end, {unanswered_done} of them processed"
    )
    if errors:
        r.problem(
            f"/api/v1/events: {errors} errors; statuses {result.statuses}, "
            f"socket errors {result.socket_errors}"
        )
    if orders_bad:
        r.problem(
            f"wrk orders: {missing} answered without a tracking_order row, {duplicated} "
            f"with more than one, {unexpected} rows for orders never sent"
        )
    if sent and result.requests > 2 * lag and not answered:
        r.problem("no order id could be read from the events' answers (events.lua)")
    if unrewarded and unrewarded[0]:
        r.problem(f"{unrewarded[0]} wrk orders have no issued referrer reward")
