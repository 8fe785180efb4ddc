from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.vm import Vm, vm


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vm]:
    """One VM for a module's tests (its engine and images are slow to make); each test cleans it."""
    with vm(tmp_path_factory.mktemp("vm"), "host") as made:
        yield made
