"""Pooling: wrk on /readyz with the connection pool against the same server without it."""

from harness.bench import Bench
from harness.report import Figure, log


def run(bench: Bench) -> None:
    server = bench.ensure_server()
    log("pooling: /readyz with the pool")
    bench.warm("get.lua", f"{server.url}/readyz")
    pooled = bench.wrk("get.lua", f"{server.url}/readyz")
    bench.stop_server()
    server = bench.start_server(pooled=False)
    log("pooling: /readyz without the pool (SARAFAN_DB_POOL=0)")
    bench.warm("get.lua", f"{server.url}/readyz")
    unpooled = bench.wrk("get.lua", f"{server.url}/readyz")
    bench.stop_server()

    r = bench.report
    pooled_rate = pooled.rate(lambda s: s == 200)
    unpooled_rate = unpooled.rate(lambda s: s == 200)
    r.add(
        Figure(
            "readyz pooled req/s",
            pooled_rate,
            "req/s",
            unpooled_rate,
            "unpooled",
            "ratio",
            ">=",
            3.0,
        )
    )
    r.add(Figure("readyz pooled p99 ms", pooled.p99_ms, "ms", unpooled.p99_ms, "unpooled"))
    r.details["pooling"] = {
        label: {
            "statuses": res.statuses,
            "socket_errors": res.socket_errors,
            "requests": res.requests,
            "seconds": res.seconds,
        }
        for label, res in (("pooled", pooled), ("unpooled", unpooled))
    }
    for label, res in (("pooled", pooled), ("unpooled", unpooled)):
        bad = res.count(lambda s: s != 200) + res.socket_error_total
        if bad:
            r.problem(
                f"/readyz ({label}): {bad} errors; statuses {res.statuses}, "
                f"socket errors {res.socket_errors}"
            )
