"""wrk and pgbench: their command lines and what their output says."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .processes import HarnessError
from .report import percentile

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    extra: list[str]
    answered: list[str]
    output: str

    def count(self, accept: Callable[[int], bool]) -> int:
        return sum(n for status, n in self.statuses.items() if accept(status))

    def rate(self, accept: Callable[[int], bool]) -> float:
        return self.count(accept) / self.seconds if self.seconds else 0.0

    @property
    def socket_error_total(self) -> int:
        return sum(self.socket_errors.values())


def parse_wrk(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    if done is None:
        raise HarnessError(f"cannot read wrk's output:\n{output[-2000:]}")
    latency = {
        int(m.group(1)): _ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    }
    statuses: dict[int, int] = {}
    for m in re.finditer(r"^STATUS (\d+) (\d+)$", output, re.M):
        statuses[int(m.group(1))] = statuses.get(int(m.group(1)), 0) + int(m.group(2))
    socket_errors: dict[str, int] = {}
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)
        )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2), done.group(3)) / 1000,
        p50_ms=latency.get(50),
        p99_ms=latency.get(99),
        statuses=statuses,
        socket_errors=socket_errors,
        extra=re.findall(r"^SENT .*$", output, re.M),
        answered=re.findall(r"^ANSWERED (\S+)$", output, re.M),
        output=output,
    )


@dataclass
class PgbenchResult:
    tps: float | None
    transactions: int
    failed: int
    aborted: bool
    p50_ms: float | None
    p99_ms: float | None
    latency_avg_ms: float | None
    errors: list[str]


def parse_pgbench(out: str, err: str, log_files: Iterable[Path]) -> PgbenchResult:
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    avg = re.search(r"latency average = ([\d.]+) ms", out)
    samples: list[float] = []
    for path in log_files:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                samples.append(int(parts[2]) / 1000)
    errors = [
        line
        for line in err.splitlines()
        if "aborted" in line or "ERROR" in line or "FATAL" in line or "error" in line
    ]
    return PgbenchResult(
        tps=float(tps.group(1)) if tps else None,
        transactions=int(processed.group(1)) if processed else 0,
        failed=int(failed.group(1)) if failed else 0,
        aborted="aborted" in out + err,
        p50_ms=percentile(samples, 50),
        p99_ms=percentile(samples, 99),
        latency_avg_ms=float(avg.group(1)) if avg else None,
        errors=errors[:5],
    )


def pgbench_argv(
    script: Path,
    *,
    conninfo: dict[str, str | int],
    clients: int,
    threads: int,
    seconds: int | None = None,
    transactions: int | None = None,
    defines: dict[str, object] | None = None,
    log_prefix: Path | None = None,
) -> list[str]:
    """pgbench on `script`: for `seconds` (-T) or `transactions` per client (-t).

    `conninfo` holds host, port, user and dbname.
    """
    argv: list[str] = ["pgbench", "-h", str(conninfo["host"]), "-p", str(conninfo["port"])]
    argv += ["-U", str(conninfo["user"]), "-n", "-c", str(clients), "-j", str(threads)]
    argv += ["-T", str(seconds)] if transactions is None else ["-t", str(transactions)]
    argv += ["-f", str(script)]
    for name, value in (defines or {}).items():
        argv += ["-D", f"{name}={value}"]
    if log_prefix is not None:
        argv += ["-l", "--log-prefix", str(log_prefix)]
    return [*argv, str(conninfo["dbname"])]
