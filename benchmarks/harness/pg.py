"""The PostgreSQL server the benchmarks create their databases on (trust auth)."""

import os

import psycopg

# BENCH_PG names another server for the separate runs; run.py takes --pg.
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def admin(sql: str, server: str = SERVER) -> None:
    """One statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def drop_database(name: str, server: str = SERVER) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server)


def recreate_database(name: str, server: str = SERVER) -> None:
    """Drop `name` (whoever is connected) and create it empty."""
    drop_database(name, server)
    admin(f'CREATE DATABASE "{name}"', server)
