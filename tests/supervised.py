"""Supervisors with children that misbehave, for tests/test_cli.py.

    python tests/supervised.py child GRACE       the child ignores SIGTERM
    python tests/supervised.py grandchild GRACE  the child stops, its own child ignores SIGTERM
    python tests/supervised.py fails GRACE       one child exits with 3 while another runs on

Each prints "ready" once every process is started (except "fails").
"""

import signal
import subprocess
import sys
import time

from sarafan.processes import supervise

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
SLEEP = "import time; time.sleep(600)"


def run_child() -> None:
    subprocess.Popen([sys.executable, "-c", IGNORE_TERM + "time.sleep(600)"])
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(600)


if __name__ == "__main__":
    mode, grace = sys.argv[1], float(sys.argv[2])
    if mode == "run-child":
        run_child()
    elif mode == "child":
        ready = "print('ready', flush=True); time.sleep(600)"
        sys.exit(
            supervise([("stubborn", [sys.executable, "-c", IGNORE_TERM + ready])], grace=grace)
        )
    elif mode == "grandchild":
        argv = [sys.executable, __file__, "run-child", "0"]
        sys.exit(supervise([("stubborn", argv)], grace=grace))
    elif mode == "fails":
        children = [
            ("sleeper", [sys.executable, "-c", SLEEP]),
            ("failing", [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"]),
        ]
        sys.exit(supervise(children, grace=grace))
