"""Reward fulfilment end to end: pool codes issued and e-mailed under load, and an empty pool.

    flock /tmp/bench.lock .venv/bin/python benchmarks/fulfilment.py [--sqlite] [--orders 2000]
        [--threads 16] [--codes 10000] [--empty-pool 50] [--refill 50] [--workers N]

The "Done when" of fulfilment, measured over real processes and sockets: a marketer uploads
10 000 codes, runs a campaign, and every reward is issued and e-mailed within seconds of
approval, no code is issued twice under load, and an empty pool is handled visibly.

It creates the PostgreSQL database `sarafan_bench_fulfil` (dropped first and at the end), or
with --sqlite a SQLite file in a temporary data directory; starts an SMTP server in this
process (aiosmtpd on 127.0.0.1) that stamps each message on arrival and reads the
certificate code out of its text part; runs `sarafan migrate` and `sarafan project create`,
then `sarafan serve --workers <cores>` and one `sarafan worker` (db task backend, poll
interval SARAFAN_WORKER_INTERVAL or 0.05 s), pointed at both. Through the public API, with
the test secret key:

  main   a brand, a pool of 500.00 and its CSV of --codes codes (dry run, then for real); a
         campaign paying a fixed 500.00 first-order reward to the referrer from that pool,
         no hold; one referrer per order. One warm-up order whose e-mail shows the worker
         is up, then --orders paid first orders from --threads threads, each with its own
         referrer, friend and IP (so no velocity stop-rule holds them). It waits for every
         e-mail, reads every reward back, and matches e-mails to rewards by the code.
  empty  a second pool with --empty-pool codes and its own campaign; that many orders plus
         --refill more: the extra rewards wait (`approved`, waiting `pool_empty`); then
         --refill codes are uploaded and the time until those rewards are issued and
         e-mailed is measured.

The latency of an e-mail runs from the order's answer at the client to the message's arrival
at the SMTP server; the task table splits it into the wait in the queue and the task's run.
Exits 1 when a code was issued twice, an e-mail is missing or went out twice, or a reward
was left unissued. Every process it starts runs in its own process group and is killed on
exit, error or Ctrl+C.
"""

from __future__ import annotations

import argparse
import email
import email.message
import email.policy
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller

from harness import pg
from harness.env import bench_env
from harness.machine import summary
from harness.paths import SARAFAN
from harness.processes import HarnessError, Processes, free_port
from harness.report import percentile

DATABASE = "sarafan_bench_fulfil"
HOST = "127.0.0.1"
DENOMINATION = "500.00"
# Uploaded codes look like FUL-A-0000042-Q7 (the letter names the pool), so a message's code
# is found in its text part whatever language the e-mail is written in.
CODE_RE = re.compile(r"\bFUL-[A-Z]-\d{7}-Q7\b")
MAIL_TIMEOUT = 120.0
START_TIMEOUT = 60.0
DELIVER_TASK = "%deliver_reward"
# The benchmark's own SMTP server is the only one; no inherited mail setting may point away.
EMAIL_SETTINGS = (
    "SARAFAN_EMAIL_HOST",
    "SARAFAN_EMAIL_PORT",
    "SARAFAN_EMAIL_USER",
    "SARAFAN_EMAIL_PASSWORD",
    "SARAFAN_EMAIL_TLS",
    "SARAFAN_EMAIL_SSL",
)


def line(label: str, value: object) -> None:
    print(f"  {label:<46} {value}", flush=True)


def spread_ms(values: Sequence[float]) -> str:
    """p50 / p95 / p99 / max of durations in seconds, shown in milliseconds."""
    if not values:
        return "-"
    parts = [percentile(values, p) for p in (50, 95, 99)] + [max(values)]
    return " / ".join(f"{1000 * v:.0f}" for v in parts) + " ms (p50 / p95 / p99 / max)"


# --------------------------------------------------------------------------------------------
# The SMTP server


@dataclass(frozen=True)
class Mail:
    at: float  # time.monotonic() when the message's DATA arrived
    to: tuple[str, ...]
    codes: tuple[str, ...]


class Mailbox:
    """aiosmtpd's handler: stamps each message on arrival and reads the codes in its text."""

    def __init__(self) -> None:
        self._mails: list[Mail] = []
        self._lock = threading.Lock()

    # aiosmtpd calls a handler's handle_<SMTP verb>.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        mail = Mail(at, tuple(envelope.rcpt_tos), tuple(CODE_RE.findall(text)))
        with self._lock:
            self._mails.append(mail)
        return "250 Message accepted for delivery"

    def mails(self, prefix: str = "") -> list[Mail]:
        """Messages so far; with a prefix, those carrying a code of that pool."""
        with self._lock:
            mails = list(self._mails)
        return [m for m in mails if any(c.startswith(prefix) for c in m.codes)] if prefix else mails

    def by_code(self) -> dict[str, list[Mail]]:
        found: dict[str, list[Mail]] = {}
        for mail in self.mails():
            for code in set(mail.codes):
                found.setdefault(code, []).append(mail)
        return found


def start_smtp(mailbox: Mailbox) -> tuple[Controller, int]:
    for attempt in range(5):
        port = free_port(HOST)
        controller = Controller(mailbox, hostname=HOST, port=port)
        try:
            controller.start()
        except OSError:
            if attempt == 4:
                raise
            continue
        return controller, port
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# The API


class Api:
    """The public API with one secret key; one keep-alive connection per calling thread."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.key = key
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                base_url=f"{self.base_url}/api/v1/",
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=120.0,
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        response = self._client().request(method, path, json=body)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:500]

    def call(self, method: str, path: str, body: object = None) -> Any:
        status, data = self.request(method, path, body)
        if status not in (200, 201):
            raise HarnessError(f"{method} {path} answered {status}: {str(data)[:500]}")
        return data

    def listing(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a paginated list."""
        items: list[dict[str, Any]] = []
        query = {"limit": "100", **params}
        while True:
            page = self.call("GET", path + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
            items += page["data"]
            if not page["has_more"] or not page["data"]:
                return items
            query["starting_after"] = page["data"][-1]["id"]

    def close(self) -> None:
        for client in self._clients:
            client.close()


def in_parallel(threads: int, work: Callable[[int], Any], items: Iterable[int]) -> list[Any]:
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        return list(pool.map(work, items))
    finally:
        # On Ctrl+C the queued calls are dropped, not run against servers being stopped.
        pool.shutdown(wait=False, cancel_futures=True)


def wait_until(done: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


# --------------------------------------------------------------------------------------------
# Building blocks of the scenarios


def codes_csv(letter: str, start: int, count: int) -> str:
    expiry = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    rows = (
        f"FUL-{letter}-{i:07d}-Q7,{i % 10000:04d},{DENOMINATION},{expiry}\n"
        for i in range(start, start + count)
    )
    return "code,pin,nominal,expiry\n" + "".join(rows)


def upload(api: Api, pool: str, text: str, *, dry_run: bool = False) -> tuple[float, Any]:
    start = time.monotonic()
    report = api.call("POST", f"pools/{pool}/codes", {"csv": text, "dry_run": dry_run})
    return time.monotonic() - start, report


def create_campaign(api: Api, name: str, pool: str) -> str:
    rule = {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": DENOMINATION,
        "hold_days": 0,
    }
    body = {
        "name": name,
        "landing_url": "https://shop.example/welcome",
        "rules": [rule],
        "reward_source": {"type": "pool", "pool": pool},
    }
    return str(api.call("POST", "campaigns", body)["id"])


def create_referrers(api: Api, ids: Sequence[str], threads: int) -> dict[str, str]:
    """PUT one participant per id, with an e-mail; returns id → referral code."""

    def put(index: int) -> str:
        external_id = ids[index]
        body = {"email": f"{external_id}@example.ru", "name": f"Referrer {index}"}
        return str(api.call("PUT", f"participants/{external_id}", body)["referral_code"])

    return dict(zip(ids, in_parallel(threads, put, range(len(ids))), strict=True))


@dataclass(frozen=True)
class Answer:
    referrer: str
    http: int
    at: float  # time.monotonic() when the answer arrived
    took: float
    reward: str | None = None
    reward_status: str = ""
    decision: str = ""
    error: str = ""


def send_orders(
    api: Api,
    campaign: str,
    referrers: dict[str, str],
    *,
    tag: str,
    first_ip: int,
    threads: int,
) -> tuple[list[Answer], float]:
    """One paid first order per referrer, each friend new and on its own /24."""
    ids = list(referrers)

    def order(index: int) -> Answer:
        referrer = ids[index]
        customer = f"c-{tag}-{index:06d}"
        n = first_ip + index
        body = {
            "type": "order",
            "campaign": campaign,
            "referral_code": referrers[referrer],
            "customer": {"external_id": customer, "email": f"{customer}@mail.example.ru"},
            "order": {
                "id": f"o-{customer}",
                "amount": "4990.00",
                "currency": "RUB",
                "status": "paid",
            },
            "context": {"ip": f"10.{n // 250 % 250 + 1}.{n % 250 + 1}.7"},
        }
        start = time.monotonic()
        try:
            status, data = api.request("POST", "events", body)
        except httpx.HTTPError as exc:
            return Answer(referrer, 0, time.monotonic(), 0.0, error=f"{type(exc).__name__}: {exc}")
        at = time.monotonic()
        if status not in (200, 201):
            return Answer(referrer, status, at, at - start, error=str(data)[:300])
        rewards = [r for r in data["rewards"] if r["recipient"] == referrer]
        reward = rewards[0] if rewards else {"id": None, "status": ""}
        decision = str((data.get("fraud") or {}).get("decision", ""))
        return Answer(
            referrer, status, at, at - start, reward["id"], str(reward["status"]), decision
        )

    start = time.monotonic()
    answers = in_parallel(threads, order, range(len(ids)))
    return answers, time.monotonic() - start


def report_answers(answers: Sequence[Answer], took: float) -> list[str]:
    """Print what the orders' answers said; returns the problems seen."""
    problems: list[str] = []
    failed = [a for a in answers if a.error]
    line("orders sent", f"{len(answers)} in {took:.2f} s = {len(answers) / took:.1f} orders/s")
    line("order answer time", spread_ms([a.took for a in answers if not a.error]))
    statuses = Counter(a.reward_status or "(no reward)" for a in answers if not a.error)
    line("reward status in the answers", dict(sorted(statuses.items())))
    decisions = Counter(a.decision for a in answers if not a.error)
    line("fraud decisions", dict(sorted(decisions.items())))
    if failed:
        kinds = Counter(a.http for a in failed)
        problems.append(f"{len(failed)} orders failed {dict(kinds)}; first: {failed[0].error}")
    return problems


def timeline(start: float, answered: Sequence[float], arrived: Sequence[float]) -> None:
    """Orders answered and e-mails arrived in each 10 s from the first order."""
    step = 10.0
    end = max([*answered, *arrived]) - start
    cells = []
    for n in range(int(end // step) + 1):
        low, high = start + n * step, start + (n + 1) * step
        orders = sum(low <= t < high for t in answered)
        mails = sum(low <= t < high for t in arrived)
        cells.append(f"{orders}/{mails}")
    for row in range(0, len(cells), 10):
        label = "orders/e-mails per 10 s" if row == 0 else ""
        line(label, " ".join(f"{c:>9}" for c in cells[row : row + 10]))


def read_rewards(api: Api, ids: Sequence[str], threads: int) -> dict[str, dict[str, Any]]:
    details = in_parallel(threads, lambda i: api.call("GET", f"rewards/{ids[i]}"), range(len(ids)))
    return {d["id"]: d for d in details}


def duplicates(codes: Iterable[str]) -> dict[str, int]:
    return {code: n for code, n in Counter(codes).items() if n > 1}


# --------------------------------------------------------------------------------------------
# The task table: the queue wait and the run of each e-mail task


class TaskTable:
    def __init__(self, database_url: str | None, sqlite_path: Path) -> None:
        self.database_url = database_url
        self.sqlite_path = sqlite_path

    def deliveries(self, since: datetime) -> list[tuple[float, float]]:
        """(queue wait, run) in seconds of the finished e-mail tasks enqueued since `since`."""
        sql = (
            "SELECT enqueued_at, started_at, finished_at FROM django_tasks_database_dbtaskresult"
            " WHERE task_path LIKE {p} AND finished_at IS NOT NULL AND enqueued_at >= {p}"
        )
        rows: list[tuple[datetime, datetime, datetime]]
        if self.database_url:
            with psycopg.connect(self.database_url) as db:
                rows = db.execute(sql.format(p="%s"), (DELIVER_TASK, since)).fetchall()
        else:
            # Django keeps SQLite's times as naive UTC text.
            stamp = since.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
            with closing(sqlite3.connect(self.sqlite_path)) as db:
                text = db.execute(sql.format(p="?"), (DELIVER_TASK, stamp)).fetchall()
            parse = datetime.fromisoformat
            rows = [(parse(e), parse(s), parse(f)) for e, s, f in text]
        return [
            ((s - e).total_seconds(), (f - s).total_seconds())
            for e, s, f in rows
            if e is not None and s is not None
        ]


# --------------------------------------------------------------------------------------------
# The scenarios


@dataclass
class Bench:
    args: argparse.Namespace
    api: Api
    mailbox: Mailbox
    tasks: TaskTable
    procs: Processes

    def main_scenario(self) -> list[str]:
        args, api = self.args, self.api
        print(f"\nMain scenario: {args.codes} codes, {args.orders} orders, {args.threads} threads")
        brand = api.call("POST", "brands", {"name": "Бенч-Маркет"})["id"]
        pool = api.call("POST", "pools", {"brand": brand, "denomination": DENOMINATION})["id"]
        text = codes_csv("A", 0, args.codes)
        took, report = upload(api, pool, text, dry_run=True)
        line(
            f"CSV dry run, {args.codes} rows ({len(text) / 1024:.0f} KiB)",
            f"{took:.2f} s, accepted {report['accepted']}, rejected {report['rejected']}",
        )
        took, report = upload(api, pool, text)
        line(
            f"CSV upload, {args.codes} rows",
            f"{took:.2f} s = {args.codes / took:.0f} rows/s, accepted {report['accepted']}, "
            f"rejected {report['rejected']}",
        )
        if report["accepted"] != args.codes:
            raise HarnessError(f"the upload stored {report['accepted']} of {args.codes} codes")
        campaign = create_campaign(api, "Fulfilment A", pool)
        ids = [f"ra-{i:06d}" for i in range(args.orders + 1)]
        start = time.monotonic()
        referrers = create_referrers(api, ids, args.threads)
        took = time.monotonic() - start
        line("referrers created (PUT participants)", f"{len(ids)} in {took:.1f} s")

        # A warm-up order: its e-mail shows the worker is up before the clock starts.
        warm_id = ids[0]
        warm, _ = send_orders(
            api, campaign, {warm_id: referrers.pop(warm_id)}, tag="aw", first_ip=0, threads=1
        )
        if warm[0].error or not wait_until(lambda: len(self.mailbox.mails("FUL-A-")) >= 1, 60):
            raise HarnessError(
                f"the warm-up order's e-mail did not arrive: {warm[0]}\n"
                + self.procs.tail("worker")
            )
        since = datetime.now(UTC)
        started = time.monotonic()
        answers, took = send_orders(
            api, campaign, referrers, tag="a", first_ip=1, threads=args.threads
        )
        last_answer = max(a.at for a in answers)
        problems = report_answers(answers, took)
        issued = [a for a in answers if a.reward_status in ("issued", "delivered")]
        expected = len(issued) + 1  # and the warm-up's
        arrived = wait_until(
            lambda: len(self.mailbox.mails("FUL-A-")) >= expected, MAIL_TIMEOUT, poll=0.02
        )
        mails = self.mailbox.mails("FUL-A-")
        run_mails = [m for m in mails if m.at >= started]
        if not arrived:
            problems.append(f"after {MAIL_TIMEOUT:.0f} s only {len(mails)} of {expected} e-mails")

        reward_ids = [a.reward for a in [*warm, *answers] if a.reward]
        rewards = read_rewards(api, reward_ids, args.threads)
        statuses = Counter(r["status"] for r in rewards.values())
        by_code = self.mailbox.by_code()
        latencies: list[float] = []
        missing, wrong_person, twice = [], [], []
        for answer in answers:
            reward = rewards.get(answer.reward or "")
            if reward is None:
                continue
            certificate = reward["certificate"]
            if certificate is None:
                continue
            got = by_code.get(certificate["code"], [])
            if not got:
                missing.append(reward["id"])
                continue
            if len(got) > 1:
                twice.append(reward["id"])
            if f"{answer.referrer}@example.ru" not in got[0].to:
                wrong_person.append(reward["id"])
            latencies.append(min(m.at for m in got) - answer.at)
        reward_codes = [r["certificate"]["code"] for r in rewards.values() if r["certificate"]]
        mail_codes = [c for m in mails for c in set(m.codes)]
        twice_issued = duplicates(reward_codes)
        twice_mailed = duplicates(mail_codes)
        unissued = [r["id"] for r in rewards.values() if r["status"] not in ("issued", "delivered")]
        stock = api.call("GET", f"pools/{pool}")["stock"]

        print()
        line("rewards issued (read back)", f"{len(reward_codes)} of {len(rewards)} (incl. warm-up)")
        line("reward statuses (read back)", dict(sorted(statuses.items())))
        line("e-mails received", f"{len(mails)} ({len(run_mails)} after the warm-up)")
        line("e-mail latency, order answer → arrival", spread_ms(latencies))
        if run_mails:
            last = max(m.at for m in run_mails)
            line(
                "e-mails drained",
                f"last {last - last_answer:.2f} s after the last answer; "
                f"{len(run_mails) / (last - started):.1f} e-mails/s from the first order",
            )
            timeline(started, [a.at for a in answers], [m.at for m in run_mails])
        timings = self.tasks.deliveries(since)
        line("e-mail task: wait in the queue", spread_ms([w for w, _ in timings]))
        line("e-mail task: run (render, QR, SMTP, write)", spread_ms([r for _, r in timings]))
        line("distinct codes among rewards", f"{len(set(reward_codes))} of {len(reward_codes)}")
        line("distinct codes among e-mails", f"{len(set(mail_codes))} of {len(mail_codes)}")
        line("codes issued twice", f"{len(twice_issued)} {sorted(twice_issued)[:10] or ''}")
        line(
            "e-mails missing / sent twice / wrong person",
            f"{len(missing)} / {len(twice)} / {len(wrong_person)}",
        )
        line(
            "pool stock after",
            f"available {stock['available']}, allocated {stock['allocated']} "
            f"(expected {args.codes - len(reward_codes)} / {len(reward_codes)})",
        )
        if twice_issued:
            problems.append(f"codes issued twice: {sorted(twice_issued.items())[:10]}")
        if twice_mailed or twice:
            problems.append(f"codes e-mailed twice: {sorted(twice_mailed.items())[:10]}")
        if missing:
            problems.append(f"{len(missing)} e-mails missing, e.g. {missing[:5]}")
        if wrong_person:
            problems.append(f"{len(wrong_person)} e-mails to the wrong person: {wrong_person[:5]}")
        if unissued or len(reward_ids) != len(answers) + 1:
            problems.append(
                f"{len(unissued)} rewards not issued ({unissued[:5]}), "
                f"{len(answers) + 1 - len(reward_ids)} orders without a reward"
            )
        if stock["allocated"] != len(reward_codes):
            problems.append(f"pool allocated {stock['allocated']} != {len(reward_codes)} issued")
        return problems

    def empty_pool_scenario(self) -> list[str]:
        args, api = self.args, self.api
        k, m = args.empty_pool, args.refill
        print(f"\nEmpty pool: {k} codes, {k + m} orders, then {m} codes uploaded")
        brand = api.call("POST", "brands", {"name": "Бенч-Пусто"})["id"]
        pool = api.call("POST", "pools", {"brand": brand, "denomination": DENOMINATION})["id"]
        upload(api, pool, codes_csv("B", 0, k))
        campaign = create_campaign(api, "Fulfilment B", pool)
        ids = [f"rb-{i:06d}" for i in range(k + m)]
        referrers = create_referrers(api, ids, args.threads)
        answers, took = send_orders(
            api, campaign, referrers, tag="b", first_ip=args.orders + 10, threads=args.threads
        )
        problems = report_answers(answers, took)
        issued = sum(a.reward_status in ("issued", "delivered") for a in answers)
        wait_until(lambda: len(self.mailbox.mails("FUL-B-")) >= issued, MAIL_TIMEOUT)
        waiting = api.listing("rewards", waiting="pool_empty", campaign=campaign)
        reasons = Counter((r["status"], (r["waiting"] or {}).get("reason")) for r in waiting)
        alerts = [a for a in api.listing("fraud/alerts") if a["kind"] == "pool.empty"]
        stock = api.call("GET", f"pools/{pool}")["stock"]
        line("e-mails received before the refill", len(self.mailbox.mails("FUL-B-")))
        line("GET /rewards?waiting=pool_empty", f"{len(waiting)} rewards {dict(reasons)}")
        if waiting:
            line("  e.g. waiting.message", repr(waiting[0]["waiting"]["message"]))
        line("pool.empty alerts (GET /fraud/alerts)", len(alerts))
        line("pool stock before the refill", stock)
        if len(waiting) != m or issued != k:
            problems.append(f"expected {k} issued and {m} waiting, got {issued} and {len(waiting)}")

        refill = {f"FUL-B-{i:07d}-Q7" for i in range(k, k + m)}
        start = time.monotonic()
        took, report = upload(api, pool, codes_csv("B", k, m))
        answered = time.monotonic()
        waiting_ids = [r["id"] for r in waiting]
        all_issued_at: float | None = None
        deadline = answered + MAIL_TIMEOUT
        while time.monotonic() < deadline:
            if all_issued_at is None and not api.listing(
                "rewards", waiting="pool_empty", campaign=campaign
            ):
                all_issued_at = time.monotonic()
            got = [mail for mail in self.mailbox.mails("FUL-B-") if refill & set(mail.codes)]
            if all_issued_at is not None and len(got) >= len(waiting_ids):
                break
            time.sleep(0.05)
        got = [mail for mail in self.mailbox.mails("FUL-B-") if refill & set(mail.codes)]
        rewards = read_rewards(api, waiting_ids, args.threads)
        codes = [r["certificate"]["code"] for r in rewards.values() if r["certificate"]]
        line(f"upload of {m} codes", f"{took:.2f} s, accepted {report['accepted']}")
        line(
            "upload answered → all issued (API polled)",
            f"{all_issued_at - answered:.2f} s" if all_issued_at else "NOT within the timeout",
        )
        if got:
            arrivals = sorted(mail.at - answered for mail in got)
            line(
                "upload answered → e-mails (first / last)",
                f"{arrivals[0]:.2f} / {arrivals[-1]:.2f} s, {len(got)} of {m} "
                f"(upload started {answered - start:.2f} s before its answer)",
            )
        statuses = Counter(r["status"] for r in rewards.values())
        line("waiting rewards now", dict(statuses))
        line(
            "their codes: distinct / from the refill",
            f"{len(set(codes))} / {len(refill & set(codes))} of {len(codes)}",
        )
        all_b = [c for mail in self.mailbox.mails("FUL-B-") for c in set(mail.codes)]
        line("codes issued twice (pool B e-mails)", len(duplicates(all_b)))
        if len(got) != m or len(set(codes)) != m or not refill >= set(codes):
            problems.append(f"after the refill {len(got)} of {m} e-mails, codes {len(set(codes))}")
        if duplicates(all_b):
            problems.append(f"pool B codes e-mailed twice: {duplicates(all_b)}")
        return problems


# --------------------------------------------------------------------------------------------
# Set-up and the run


def run(args: argparse.Namespace, workdir: Path) -> int:
    mailbox = Mailbox()
    controller, smtp_port = start_smtp(mailbox)
    procs = Processes(logs=workdir)
    api: Api | None = None
    port = free_port(HOST)
    interval = os.environ.get("SARAFAN_WORKER_INTERVAL") or "0.05"
    env = bench_env(
        strip=EMAIL_SETTINGS,
        SARAFAN_DATA_DIR=str(workdir / "data"),
        SARAFAN_DEBUG="0",
        SARAFAN_TASK_BACKEND="db",
        SARAFAN_BASE_URL=f"http://{HOST}:{port}",
        SARAFAN_EMAIL_HOST=HOST,
        SARAFAN_EMAIL_PORT=str(smtp_port),
        SARAFAN_WORKER_INTERVAL=interval,
    )
    database_url = None if args.sqlite else f"{pg.SERVER}/{DATABASE}"
    if database_url:
        env["DATABASE_URL"] = database_url
        pg.recreate_database(DATABASE)
    try:
        print(f"Reward fulfilment, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {summary()}")
        print(
            f"  database {'SQLite (temp data dir)' if args.sqlite else database_url}; "
            f"sarafan serve --workers {args.workers}; {args.task_workers} × sarafan worker "
            f"(db backend, --interval {interval}); SMTP 127.0.0.1:{smtp_port}",
            flush=True,
        )
        code, out, err = procs.run([SARAFAN, "migrate"], env=env, timeout=300)
        if code:
            raise HarnessError(f"sarafan migrate failed:\n{out}\n{err}")
        code, out, err = procs.run(
            [SARAFAN, "project", "create", "Fulfilment bench", "--json"], env=env, timeout=120
        )
        if code:
            raise HarnessError(f"sarafan project create failed:\n{err}")
        keys = json.loads(out[out.index("{") :])
        serve = [str(SARAFAN), "serve", "--host", HOST, "--port", str(port)]
        procs.start_logged("serve", [*serve, "--workers", str(args.workers)], env)
        for n in range(args.task_workers):
            worker = [str(SARAFAN), "worker", "--processes", "1"]
            procs.start_logged(f"worker{n or ''}", worker, env)
        base_url = f"http://{HOST}:{port}"

        def ready() -> bool:
            procs.check_alive()
            with suppress(httpx.HTTPError):
                return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
            return False

        if not wait_until(ready, START_TIMEOUT, poll=0.2):
            raise HarnessError(f"/readyz not ready after {START_TIMEOUT:.0f} s")
        api = Api(base_url, keys["secret_key_test"])
        sqlite_path = workdir / "data" / "sarafan.sqlite3"
        bench = Bench(args, api, mailbox, TaskTable(database_url, sqlite_path), procs)
        problems = bench.main_scenario()
        if args.empty_pool:
            problems += bench.empty_pool_scenario()
        procs.check_alive()
        for name in procs.names():
            log = procs.tail(name, 10)
            if log.strip():
                print(f"\n{name} log (last lines):\n{log}")
        print()
        if problems:
            print("PROBLEMS:")
            for problem in problems:
                print(f"  ! {problem}")
            return 1
        print("All rewards issued once and e-mailed; no code issued twice.")
        return 0
    finally:
        if api is not None:
            api.close()
        procs.stop_all()
        controller.stop()
        if database_url:
            pg.drop_database(DATABASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--codes", type=int, default=10_000, help="rows of the main CSV")
    parser.add_argument("--empty-pool", type=int, default=50, help="codes of the small pool")
    parser.add_argument("--refill", type=int, default=50, help="orders past the small pool")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="web processes")
    parser.add_argument("--task-workers", type=int, default=1, help="`sarafan worker` processes")
    args = parser.parse_args()
    if args.orders + 1 > args.codes:
        parser.error("--codes must exceed --orders (one warm-up order too)")
    # SIGTERM ends the run like Ctrl+C: the finally blocks stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="sarafan-fulfil-") as workdir:
        try:
            code = run(args, Path(workdir))
        except HarnessError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            print("\nInterrupted; the processes it started are stopped.", file=sys.stderr)
            code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
