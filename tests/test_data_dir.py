"""What Sarafan keeps in its data directory is its user's alone: the directory 0700, the
embedded database, the secret key and the demo's logins 0600, for new and existing installs."""

import os
import stat
import subprocess
from pathlib import Path

from tests.processes import SARAFAN


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    return {**env, "SARAFAN_DATA_DIR": str(data_dir)}


def _run(data_dir: Path, *args: str) -> None:
    # The umask most systems have: without care, files come out world-readable.
    subprocess.run(
        [SARAFAN, *args], env=_env(data_dir), check=True, capture_output=True, umask=0o022
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


DEMO = "from sarafan.site.demo import ensure_demo; ensure_demo()"


def _private_files(data_dir: Path) -> dict[str, int]:
    names = ["sarafan.sqlite3", "sarafan.sqlite3-wal", "sarafan.sqlite3-shm", "secret_key"]
    names.append("demo.json")
    return {name: _mode(data_dir / name) for name in names if (data_dir / name).exists()}


def test_a_new_data_directory_is_readable_by_sarafans_user_only(tmp_path):
    data_dir = tmp_path / "data"
    _run(data_dir, "migrate")
    _run(data_dir, "manage", "shell", "-c", DEMO)
    assert _mode(data_dir) == 0o700
    files = _private_files(data_dir)
    assert {"sarafan.sqlite3", "secret_key", "demo.json"} <= files.keys()
    assert files == dict.fromkeys(files, 0o600)


def test_an_existing_install_is_tightened_on_start(tmp_path):
    data_dir = tmp_path / "data"
    _run(data_dir, "migrate")
    _run(data_dir, "manage", "shell", "-c", DEMO)
    # As an older Sarafan left them.
    data_dir.chmod(0o755)
    for name in _private_files(data_dir):
        (data_dir / name).chmod(0o644)
    _run(data_dir, "migrate")
    assert _mode(data_dir) == 0o700
    files = _private_files(data_dir)
    assert files == dict.fromkeys(files, 0o600)
