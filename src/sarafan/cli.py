"""The `sarafan` command: run, serve, work, migrate, create projects, and Django's commands."""

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from sarafan.processes import SERVER_STOP_SECONDS, note_stops_while_workers_load, supervise


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sarafan.settings")
    import django

    django.setup()


def _manage(args: Sequence[str]) -> None:
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sarafan.settings")
    execute_from_command_line(["sarafan manage", *args])


def cmd_migrate(_: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    return 0


def _default_worker_interval() -> float:
    # 0.05 s: a task starts ~30 ms after it is enqueued (p99 under 100 ms) while an idle
    # worker costs ~5 % of a core; shorter intervals cost triple (benchmarks/README.md).
    return float(os.environ.get("SARAFAN_WORKER_INTERVAL", "0.05"))


def _default_worker_processes() -> int:
    # One process sends about 15 certificate e-mails a second (benchmarks/README.md, "Reward
    # fulfilment"); two keep e-mails within seconds of approval at the measured order rate.
    return int(os.environ.get("SARAFAN_WORKER_PROCESSES", "2"))


def default_threads() -> int:
    """Threads per server process: enough to overlap database waits, as granian advises."""
    return int(os.environ.get("SARAFAN_THREADS") or (os.cpu_count() or 1) * 2 + 1)


def _granian_args(host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        # A worker that has not stopped this long after SIGTERM is killed; its spooled
        # clicks stay on disk for the next process (links/spool.py).
        "--workers-kill-timeout",
        str(max(SERVER_STOP_SECONDS, 1)),
        "--log-level",
        os.environ.get("SARAFAN_SERVER_LOG_LEVEL", "warning"),
        "sarafan.serving:application",
    ]


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API, redirect, widget and console with granian (WSGI), in this process."""
    from granian.cli import entrypoint

    # From the moment each worker process is forked, a stop is noted, not lost.
    note_stops_while_workers_load()
    sys.argv = ["granian", *_granian_args(args.host, args.port, args.workers, args.threads)]
    entrypoint()  # click's main: exits the process with the server's exit code
    return 0  # pragma: no cover


def cmd_worker(args: argparse.Namespace) -> int:
    """Run background tasks, and enqueue the periodic ones on their schedule.

    The worker matches the task backend: RQ's for "rq", django_tasks_db's poller otherwise.
    SIGTERM and Ctrl+C let the task in progress finish, then stop. With `--processes N`
    over 1 this process starts N worker processes (only the first runs the schedule) and
    stops them all when it is stopped or one of them ends.
    """
    if args.processes > 1:
        return _supervise_workers(args)
    _setup_django()
    from django.conf import settings

    from sarafan.site.schedule import run_scheduler

    stop = threading.Event()
    if not args.no_schedule:
        threading.Thread(target=run_scheduler, args=(stop,), daemon=True).start()
    try:
        if settings.TASKS["default"]["BACKEND"] == settings.TASK_BACKENDS["rq"]:
            return _run_rq_worker()
        _run_db_worker(interval=args.interval)
    finally:
        stop.set()
    return 0


def _worker_argv(*, interval: float, schedule: bool) -> list[str]:
    argv = [sys.executable, "-m", "sarafan.cli", "worker", "--processes", "1"]
    argv += ["--interval", str(interval)]
    return argv if schedule else [*argv, "--no-schedule"]


def _supervise_workers(args: argparse.Namespace) -> int:
    return supervise(
        [
            (
                f"worker {n + 1}",
                _worker_argv(interval=args.interval, schedule=not args.no_schedule and n == 0),
            )
            for n in range(args.processes)
        ]
    )


def _run_db_worker(*, interval: float) -> None:
    from django.utils.crypto import get_random_string
    from django_tasks_db.management.commands import db_worker

    class TaskWorker(db_worker.Worker):
        """django_tasks_db's worker, stopped between steps only.

        Its own first stop signal exits at once unless a task runs, so a signal that lands
        while the worker polls or claims a task raised SystemExit inside a database call
        (exit 1 at teardown), or after a claim and before the task started (the task then
        stayed claimed for ever). Here the first signal ends the loop after the step in
        progress; a second one still aborts a running task.
        """

        def shutdown(self, signum: int, frame: FrameType | None) -> None:
            if not self.running:
                super().shutdown(signum, frame)
            self.running = False

    db_worker.Command().configure_logging(0)
    # db_worker polls the task table every `interval` seconds while the queue is empty, and
    # takes the next task at once while it is not.
    worker = TaskWorker(
        queue_names=[db_worker.DEFAULT_TASK_QUEUE_NAME],
        interval=interval,
        batch=False,
        backend_name=db_worker.DEFAULT_TASK_BACKEND_ALIAS,
        startup_delay=False,
        max_tasks=None,
        worker_id=get_random_string(32),
        excluded_queue_names=[],
    )
    worker.configure_signals()
    worker.run()


def _run_rq_worker() -> int:
    import django_rq
    from django.db import close_old_connections
    from django_tasks_rq import Job
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue, SimpleWorker
    from rq.job import Job as RQJob

    class TaskWorker(SimpleWorker):
        """Runs each task in this process: no fork per task, database connections reused.

        Like a request, a task starts and ends by dropping connections that broke or aged.
        """

        def execute_job(self, job: RQJob, queue: Queue) -> None:
            close_old_connections()
            try:
                super().execute_job(job, queue)
            finally:
                close_old_connections()

    queue = django_rq.get_queue("default", job_class=Job)
    try:
        worker = TaskWorker([queue], connection=queue.connection, job_class=Job)
        # with_scheduler moves deferred tasks (run_after) to the queue when they are due.
        worker.work(with_scheduler=True, logging_level="WARNING")
    except RedisConnectionError as exc:
        print(f"sarafan worker: cannot reach Redis at REDIS_URL: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_project_create(args: argparse.Namespace) -> int:
    _setup_django()
    from sarafan.projects.services import create_project

    project, keys = create_project(name=args.name)
    result = {"id": project.public_id, **keys}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Project {project.name} ({project.public_id}). Keys are shown only this once:")
        for name, value in keys.items():
            print(f"  {name:22} {value}")
    return 0


def local_base_url(host: str, port: int) -> str:
    """The address `up` serves on, as a browser on this machine reaches it."""
    if host in {"", "0.0.0.0", "::"}:  # noqa: S104 - every interface: reached on loopback
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def cmd_up(args: argparse.Namespace) -> int:
    """First-run friendly: migrate, make the demo project, print how to log in, serve + work."""
    # Without SARAFAN_BASE_URL the links `up` prints, and those the server and the workers
    # build (referral, portal, QR), name the port it serves on; set before the settings
    # are read, and inherited by every child.
    if not os.environ.get("SARAFAN_BASE_URL"):
        os.environ["SARAFAN_BASE_URL"] = local_base_url(args.host, args.port)
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from sarafan.site.demo import ensure_demo

    call_command("migrate", interactive=False, verbosity=0)
    demo = ensure_demo()
    base = settings.BASE_URL
    print(
        "\n".join(
            [
                "",
                "Sarafan is running.",
                f"  Console:   {base}/console/",
                f"  Login:     {demo['username']} / {demo['password']}",
                f"  API:       {base}/api/v1/  (docs: {base}/api/v1/docs)",
                f"  Project:   {demo['project']}  campaign {demo['campaign']}",
                f"  Test secret key:      {demo['secret_key_test']}",
                f"  Test publishable key: {demo['publishable_key_test']}",
                f"  Data:      {settings.DATA_DIR}",
                "Press Ctrl+C to stop.",
                "",
            ]
        ),
        flush=True,
    )
    # Stopped by Ctrl+C or SIGTERM alike: the server and every worker stop before `up` exits.
    interval, workers = _default_worker_interval(), _default_worker_processes()
    server = [sys.executable, "-m", "sarafan.cli", "serve", "--host", args.host]
    server += ["--port", str(args.port), "--workers", "1", "--threads", str(default_threads())]
    return supervise(
        [
            ("server", server),
            *(
                (f"worker {n + 1}", _worker_argv(interval=interval, schedule=n == 0))
                for n in range(workers)
            ),
        ]
    )


def cmd_check(args: argparse.Namespace) -> int:
    _manage(["check", *(["--deploy"] if args.deploy else [])])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sarafan", description="Sarafan referral engine")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="migrate, create the demo project, serve with a worker")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="serve the API, redirect and console")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=int(os.environ.get("SARAFAN_WORKERS", "1")))
    serve.add_argument("--threads", type=int, default=default_threads())
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background tasks")
    worker.add_argument(
        "--interval",
        type=float,
        default=_default_worker_interval(),
        help="database backend: seconds between polls of an empty queue",
    )
    worker.add_argument("--no-schedule", action="store_true", help="do not run periodic tasks")
    worker.add_argument(
        "--processes",
        type=int,
        default=_default_worker_processes(),
        help="worker processes to run (default 2, SARAFAN_WORKER_PROCESSES)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    project = sub.add_parser("project", help="manage projects")
    project_sub = project.add_subparsers(dest="project_command", required=True)
    create = project_sub.add_parser("create", help="create a project and print its four keys")
    create.add_argument("name")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=cmd_project_create)

    check = sub.add_parser("check", help="Django's system checks")
    check.add_argument("--deploy", action="store_true")
    check.set_defaults(func=cmd_check)

    sub.add_parser("manage", help="Django's management commands, e.g. `sarafan manage shell`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "manage":
        _manage(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
