"""What every benchmark here shares: processes, the report, load generators, the server,
PostgreSQL, the API and the machine's description.

The scripts in benchmarks/ run as `python benchmarks/<script>.py`, so this package is
imported as `harness`; `run.py` composes it with one module per scenario (`scenarios/`).
"""
