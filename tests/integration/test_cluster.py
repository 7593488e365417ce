"""The cluster the flow gets: local processes or threads, always on 127.0.0.1."""

import pytest

from flows.cluster import open_cluster


@pytest.mark.parametrize("processes", [True, False])
def test_local_cluster_binds_loopback(processes):
    with open_cluster(
        address=None,
        n_workers=1,
        threads_per_worker=1,
        memory_limit="1GB",
        dashboard_address="127.0.0.1:0",
        processes=processes,
    ) as (client, info):
        assert info.address.startswith("tcp://127.0.0.1:")
        assert info.n_workers == 1
        assert info.dashboard.startswith("http://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result() == 3
