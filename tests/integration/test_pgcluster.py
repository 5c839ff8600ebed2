"""The throwaway cluster fixture itself: replication, replay pause, restart, kill -9, no leaks."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from tests.pgcluster import PgCluster, PgClusterError, child_pids, pid_alive


def _count(cluster_node_url: str) -> int:
    with psycopg.connect(cluster_node_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
        assert row is not None
        return int(row[0])


def test_replica_streams_and_replay_pauses(pg_cluster_factory: Callable[..., PgCluster]) -> None:
    cluster = pg_cluster_factory(replica=True)
    assert cluster.replica is not None
    cluster.primary.execute("CREATE TABLE items (id int PRIMARY KEY)")
    cluster.primary.execute("INSERT INTO items VALUES (1)")
    cluster.wait_replayed()
    assert _count(cluster.replica.url()) == 1
    assert cluster.replica.execute("SELECT pg_is_in_recovery()") == [(True,)]

    cluster.pause_replay()
    cluster.primary.execute("INSERT INTO items VALUES (2)")
    with pytest.raises(PgClusterError, match="did not replay"):
        cluster.wait_replayed(timeout=0.5)
    assert _count(cluster.replica.url()) == 1  # stale on purpose: replay is paused

    cluster.resume_replay()
    cluster.wait_replayed()
    assert _count(cluster.replica.url()) == 2


def test_restart_and_kill_keep_committed_rows(pg_cluster_factory: Callable[..., PgCluster]) -> None:
    cluster = pg_cluster_factory()
    node = cluster.primary
    node.execute("CREATE TABLE items (id int PRIMARY KEY)")
    node.execute("INSERT INTO items VALUES (1)")
    first_pid = node.pid

    node.restart()
    assert node.pid not in (None, first_pid)
    assert _count(node.url()) == 1

    doomed = node.pid
    assert doomed is not None
    node.kill()
    assert not node.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(node.url(), connect_timeout=2)
    node.start()  # crash recovery on the same port
    assert _count(node.url()) == 1


def test_close_leaves_no_process_or_directory() -> None:
    def failing_test_body(cluster: PgCluster) -> None:
        raise RuntimeError("test body failed")

    cluster = PgCluster.start(replica=True)
    pids = [node.pid for node in (cluster.primary, cluster.replica) if node is not None]
    children = [child for pid in pids if pid is not None for child in child_pids(pid)]
    with pytest.raises(RuntimeError, match="test body failed"), cluster:
        failing_test_body(cluster)
    assert not cluster.root.exists()
    assert len(pids) == 2
    assert children
    for pid in [*pids, *children]:
        assert pid is not None
        assert not pid_alive(pid), f"process {pid} outlived its cluster"


def test_shared_session_cluster_has_a_replica(pg_cluster: PgCluster) -> None:
    assert pg_cluster.replica is not None
    assert pg_cluster.replica.running
    assert pg_cluster.primary.port != pg_cluster.replica.port
