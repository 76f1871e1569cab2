"""Every links test starts with an empty link cache: a link remembered by an earlier test
(whose rows were rolled back) must not answer for this one."""

from collections.abc import Iterator

import pytest

from sarafan.links.selectors import link_cache


@pytest.fixture(autouse=True)
def empty_link_cache() -> Iterator[None]:
    link_cache.clear()
    yield
    link_cache.clear()
