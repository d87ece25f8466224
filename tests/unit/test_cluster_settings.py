"""Giving a cluster's workers the run's read settings survives a worker lost on the way (found by the soak: a worker
killed while the settings were registered ended the run with "cannot load ldn-pipeline's read settings ... pip
install ldn-pipeline", the wrong cause and the wrong fix)."""
from __future__ import annotations

import pytest
from distributed.comm.core import CommClosedError

from flows import cluster
from flows.cluster import ReadSettings, _register_read_settings
from tasks.errors import LdnError


class Cluster:
    """A client of a cluster whose first ``failures`` registrations fail with ``error`` (distributed's client is the
    real one elsewhere: tests/reliability/test_lost_cluster.py, test_soak.py)."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def register_plugin(self, plugin: object) -> None:
        assert isinstance(plugin, ReadSettings)
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster.time, "sleep", lambda s: None)


def test_a_worker_lost_while_registering_is_asked_again() -> None:
    client = Cluster(1, CommClosedError("in <TCP (closed) ...>: Stream is closed"))
    _register_read_settings(client, "tcp://127.0.0.1:8786")
    assert client.calls == 2


def test_workers_lost_again_and_again_is_one_line_about_the_cluster() -> None:
    with pytest.raises(LdnError, match=r"^the Dask cluster at tcp://h:1 kept losing workers .*\(CommClosedError\): "
                                       r"check its workers, then rerun$"):
        _register_read_settings(Cluster(9, CommClosedError("closed")), "tcp://h:1")


def test_a_worker_without_the_package_is_still_told_to_install_it() -> None:
    with pytest.raises(LdnError, match="cannot load ldn-pipeline's read settings .* pip install ldn-pipeline"):
        _register_read_settings(Cluster(1, ModuleNotFoundError("No module named 'tasks'")), "tcp://h:1")
