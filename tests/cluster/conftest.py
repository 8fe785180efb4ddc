from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.cluster import Cluster, single_node_cluster
from testbed.images import oci_archive, redis_recipe


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for a module's tests (it takes a minute to come up), with the redis image."""
    with single_node_cluster(tmp_path_factory.mktemp("cluster"), images=[oci_archive(redis_recipe())]) as made:
        yield made
