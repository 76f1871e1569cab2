"""Memory: peak RSS of the web worker processes and of the task worker."""

from harness.bench import Bench
from harness.report import Figure


def run(bench: Bench) -> None:
    if not bench.web_rss:
        bench.ensure_server()
        bench.sample_web_memory()
    web = max(bench.web_rss.values(), default=None)
    bench.report.add(Figure("web worker peak RSS MiB", web, "MiB"))
    task = bench.task_worker_rss
    bench.report.add(
        Figure(
            "task worker peak RSS MiB",
            task,
            "MiB",
            note="" if task is not None else "tasks step not run",
        )
    )
    bench.report.details["memory"] = {"web_workers_peak_rss_mib": bench.web_rss}
