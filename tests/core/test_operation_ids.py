"""Every operationId of the OpenAPI document is pinned: clients generate their code from
them, so a renamed handler or a moved module must not change one unnoticed."""

import json
from pathlib import Path

from sarafan.api import api as ninja_api

PINNED = Path(__file__).with_name("operation_ids.json")


def _live() -> dict[str, str]:
    spec = ninja_api.get_openapi_schema(path_prefix="/api/v1/")
    return {
        f"{method.upper()} {path}": operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def test_every_operation_id_is_the_pinned_one():
    # A new operation adds its line to operation_ids.json; an existing line never changes.
    assert _live() == json.loads(PINNED.read_text(encoding="utf-8"))


def test_operation_ids_are_unique():
    ids = list(_live().values())
    assert len(ids) == len(set(ids))
