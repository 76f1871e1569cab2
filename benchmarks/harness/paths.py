"""Where the checkout, the benchmarks and the venv's commands are."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
SQL = BENCH / "sql"
WRK = BENCH / "wrk"
BIN = ROOT / ".venv" / "bin"
SARAFAN = BIN / "sarafan"
PYTHON = BIN / "python"
