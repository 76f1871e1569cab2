"""The rewards API routers: rewards and certificates, brands and pools, issuers
(mounted by sarafan/api.py).

Each operation names its operationId: clients generate their code from them, so they keep
the names they had before these routers moved into this package (tests/core/
test_operation_ids.py pins every operationId of the document).
"""
