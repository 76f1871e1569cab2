"""A web process for tests/test_crash_recovery.py: it serves a campaign, a referrer and one
paid order through Sarafan's whole request stack (Django's test client, in this process),
against the installation its environment names, and prints the reward's id.

    python tests/crashing_web.py SECRET_KEY [--killed-before-enqueue]

With --killed-before-enqueue the process SIGKILLs itself at its first write to the task
table: the order's transaction has committed (the reward is issued, its events are in the
outbox), and the on-commit enqueue of the event dispatcher, which queues the e-mail, never
happens, as when a web process dies between the two.
"""

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sarafan.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402

from tests.conftest import ApiClient  # noqa: E402
from tests.factories import create_campaign, create_referrer, order  # noqa: E402

RULES = [
    {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": "500.00",
        "hold_days": 0,
    }
]
TASKS = DBTaskResult._meta.db_table


def killed_at_enqueue(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    if sql.lstrip().upper().startswith("INSERT") and TASKS in sql:
        os.kill(os.getpid(), signal.SIGKILL)
    return execute(sql, params, many, context)


def main(key: str, killed: bool) -> None:
    api = ApiClient(Client(HTTP_HOST="127.0.0.1"), key)
    create_campaign(api, rules=RULES)
    code = create_referrer(api, "u-7")["referral_code"]
    if killed:
        with connection.execute_wrapper(killed_at_enqueue):
            order(api, "c-1", "o-1", code=code)
        raise SystemExit("the order enqueued no task")
    response = order(api, "c-1", "o-1", code=code)
    assert response.status_code == 201, response.content
    print(response.json()["rewards"][0]["id"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1], "--killed-before-enqueue" in sys.argv[2:])
