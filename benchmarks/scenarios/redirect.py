"""Redirect: wrk on /r/<code> against wrk on the bare /healthz of the same server; the
clicks recorded in SQL against the 302s wrk counted."""

from harness.bench import Bench
from harness.report import Figure, log, zero_figure


def run(bench: Bench) -> None:
    server = bench.ensure_server()
    log("redirect: bare /healthz, then /r/<code>")
    bench.warm("get.lua", f"{server.url}/healthz")
    bare = bench.wrk("get.lua", f"{server.url}/healthz")
    codes_file = str(bench.workdir / "codes.txt")
    bench.warm("redirect.lua", server.url, [codes_file])
    click_sql = "SELECT count(*) FROM links_click"
    # Clicks reach links_click from each worker's spool every SARAFAN_CLICK_FLUSH_SECONDS:
    # the count is read once it has stood still for a few of those (the spool drained).
    flush_seconds = float(bench.env.get("SARAFAN_CLICK_FLUSH_SECONDS") or 0.2)
    drained = {"settle": max(1.0, 3 * flush_seconds), "timeout": 15.0}
    before = bench.wait_quiet(click_sql, **drained)
    redirect = bench.wrk("redirect.lua", server.url, [codes_file])
    after = bench.wait_quiet(click_sql, **drained)
    bench.sample_web_memory()

    ok_bare = bare.rate(lambda s: s == 200)
    found = redirect.count(lambda s: s == 302)
    errors = redirect.count(lambda s: not 300 <= s < 400) + redirect.socket_error_total
    sent = sum(int(line.split()[1]) for line in redirect.extra)
    in_flight = sent - redirect.requests
    clicks = after - before
    lost = max(0, found - clicks)
    unanswered_clicks = clicks - found
    r = bench.report
    r.add(
        Figure(
            "redirect req/s",
            redirect.rate(lambda s: s == 302),
            "req/s",
            ok_bare,
            "bare",
            "ratio",
            ">=",
            0.60,
        )
    )
    r.add(Figure("redirect p50 ms", redirect.p50_ms, "ms", bare.p50_ms, "bare"))
    r.add(Figure("redirect p99 ms", redirect.p99_ms, "ms", bare.p99_ms, "bare", "ratio", "<=", 3.0))
    r.add(zero_figure("redirect errors (non-3xx)", errors))
    r.add(zero_figure("clicks lost", lost, found, "302s"))
    bare_errors = bare.count(lambda s: s != 200) + bare.socket_error_total
    r.details["redirect"] = {
        "bare": {
            "statuses": bare.statuses,
            "socket_errors": bare.socket_errors,
            "requests": bare.requests,
            "seconds": bare.seconds,
        },
        "redirect": {
            "statuses": redirect.statuses,
            "socket_errors": redirect.socket_errors,
            "requests": redirect.requests,
            "seconds": redirect.seconds,
            "sent": sent,
        },
        "clicks_recorded": clicks,
        "responses_302": found,
        "in_flight_when_wrk_stopped": in_flight,
    }
    log(
        f"  302s {found}, clicks recorded {clicks}, clicks lost: {lost} "
        f"(requests in flight when wrk stopped: {in_flight})"
    )
    if bare_errors:
        r.problem(f"/healthz answered {bare_errors} non-200 responses or socket errors")
    if errors:
        r.problem(
            f"/r/<code>: {errors} errors; statuses {redirect.statuses}, "
            f"socket errors {redirect.socket_errors}"
        )
    if lost:
        r.problem(f"clicks lost: {lost} of {found} redirects have no links_click row")
    if unanswered_clicks > max(in_flight, 0) + redirect.socket_error_total:
        r.problem(
            f"{unanswered_clicks} more clicks than 302s, more than the "
            f"{in_flight} requests in flight at wrk's end: clicks counted twice?"
        )
