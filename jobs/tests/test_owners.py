"""Claims owned by a process (``jobs.owners``): an index build and a training run whose process
died on this machine are taken over at once; one whose process still runs, or that another
machine holds, is left alone until its time-out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import IndexBuild
from catalog.search.index import BUILD_STALE_AFTER, IndexBuildInProgress, index_build_claim, index_build_running
from evaluator.models import TrainingRun
from evaluator.selectors import training_run_running
from evaluator.services import RetrainInProgress, training_run_claim
from jobs.owners import owner_gone, owner_token

HOST = socket.gethostname()


def dead_pid() -> int:
    """The id of a process of this machine that has ended (started, waited for and reaped)."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


@pytest.fixture
def sleeper() -> Iterator[int]:
    """The id of another process of this machine that is running."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=30)


# ---------------------------------------------------------------------------- the token


def test_it_names_this_process_by_host_and_pid() -> None:
    assert owner_token() == f"{HOST}:{os.getpid()}"
    assert owner_gone(owner_token()) is False


def test_it_knows_a_process_of_this_machine_has_ended(sleeper: int) -> None:
    assert owner_gone(f"{HOST}:{dead_pid()}") is True
    assert owner_gone(f"{HOST}:{sleeper}") is False


def test_it_cannot_judge_another_machine_or_a_malformed_token() -> None:
    # Another host's process may well run: only the time-out can free its claim.
    assert owner_gone(f"other-{HOST}:{dead_pid()}") is False
    assert owner_gone(f"{HOST}:not-a-pid") is False
    assert owner_gone("") is False


def test_it_takes_a_process_of_another_user_as_alive(monkeypatch) -> None:
    def refused(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("jobs.owners.os.kill", refused)
    assert owner_gone(f"{HOST}:4242") is False


# ---------------------------------------------------------------------------- index builds


def test_it_takes_over_an_index_build_whose_process_died(db) -> None:
    dead = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=dead.pk).update(owner=f"{HOST}:{dead_pid()}")  # heartbeat still fresh
    assert index_build_running() is None  # nobody waits for it, and search does not announce it
    fresh = index_build_claim(triggered_by="test")
    dead.refresh_from_db()
    assert (dead.status, dead.error) == (IndexBuild.Status.FAILED, "Abandoned: its process is gone.")
    assert dead.finished_at is not None
    assert (fresh.status, fresh.owner) == (IndexBuild.Status.RUNNING, owner_token())
    assert index_build_running() == fresh


def test_it_refuses_an_index_build_while_its_owner_runs(db, sleeper: int) -> None:
    running = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=running.pk).update(owner=f"{HOST}:{sleeper}")
    with pytest.raises(IndexBuildInProgress, match=rf"already being built \(build {running.pk}, 0% done\)"):
        index_build_claim(triggered_by="test")
    running.refresh_from_db()
    assert running.status == IndexBuild.Status.RUNNING
    assert index_build_running() == running


def test_it_frees_another_machines_index_build_only_after_its_time_out(db) -> None:
    remote = index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=remote.pk).update(owner=f"other-{HOST}:{dead_pid()}")
    with pytest.raises(IndexBuildInProgress):
        index_build_claim(triggered_by="test")
    IndexBuild.objects.filter(pk=remote.pk).update(
        heartbeat_at=timezone.now() - BUILD_STALE_AFTER - timedelta(seconds=1)
    )
    fresh = index_build_claim(triggered_by="test")
    remote.refresh_from_db()
    assert (remote.status, remote.error) == (
        IndexBuild.Status.FAILED,
        "Abandoned: its process stopped sending progress.",
    )
    assert fresh.status == IndexBuild.Status.RUNNING


# ---------------------------------------------------------------------------- training runs


def test_it_takes_over_a_training_run_whose_process_died(db) -> None:
    TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).delete()
    dead = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, owner=f"{HOST}:{dead_pid()}")
    assert training_run_running() is None  # the pages do not say "being trained" for it
    fresh = training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    dead.refresh_from_db()
    assert (dead.status, dead.error) == (TrainingRun.Status.FAILED, "Abandoned: its process is gone.")
    assert fresh.status == TrainingRun.Status.RUNNING
    assert training_run_running() == fresh


def test_it_refuses_a_training_run_while_its_owner_runs(db, sleeper: int) -> None:
    TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).delete()
    running = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, owner=f"{HOST}:{sleeper}")
    with pytest.raises(RetrainInProgress, match=rf"already in progress \(run {running.pk}, started "):
        training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    running.refresh_from_db()
    assert running.status == TrainingRun.Status.RUNNING
    assert training_run_running() == running
