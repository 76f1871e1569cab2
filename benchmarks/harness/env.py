"""The environment the benchmarks run Sarafan's processes in."""

import os

# Settings the benchmarks decide themselves; inherited values would make runs incomparable.
STRIPPED_ENV = (
    "DATABASE_URL",
    "SARAFAN_DATA_DIR",
    "SARAFAN_DEBUG",
    "SARAFAN_DB_POOL",
    "SARAFAN_TASK_BACKEND",
    "SARAFAN_BASE_URL",
    "SARAFAN_WORKERS",
    "SARAFAN_SERVER_LOG_LEVEL",
    "SARAFAN_LOG_LEVEL",
    "REDIS_URL",
    "DJANGO_SETTINGS_MODULE",
)
# One key from one address at full speed: the limiter still counts every request (its cost
# is measured), it just never refuses one.
UNLIMITED = "1000000000/60"


def bench_env(*, strip: tuple[str, ...] = (), **settings: str) -> dict[str, str]:
    """This process's environment without the settings a benchmark decides, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV + strip}
    env.update(
        DJANGO_SETTINGS_MODULE="sarafan.settings",
        PYTHONUNBUFFERED="1",
        SARAFAN_RATE_LIMIT_KEY=UNLIMITED,
        SARAFAN_RATE_LIMIT_IP=UNLIMITED,
    )
    env.update(settings)
    return env
