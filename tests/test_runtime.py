"""Thread counts chosen from the free cores, and the OpenMP wait policy set before torch loads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch

from beautytune import runtime
from beautytune.errors import BeautytuneError


@pytest.fixture(autouse=True)
def _keep_torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_follow_the_free_cores_less_the_data_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEAUTYTUNE_THREADS", raising=False)
    monkeypatch.setattr(runtime, "free_cores", lambda sample_s=0.1: 3)
    assert runtime.configure_threads() == 3 == torch.get_num_threads()
    assert runtime.configure_threads(workers=2) == 1
    assert runtime.configure_threads(workers=5) == 1  # never none
    monkeypatch.setattr(runtime, "free_cores", lambda sample_s=0.1: 1)  # another job holds the rest
    assert runtime.configure_threads() == 1


def test_training_takes_every_core_of_its_share_whoever_else_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEAUTYTUNE_THREADS", raising=False)
    monkeypatch.setattr(runtime, "free_cores", lambda sample_s=0.1: 1)
    monkeypatch.setattr(runtime, "core_ids", lambda: [0, 1, 2, 3])
    assert runtime.configure_threads(work="train") == 4
    assert runtime.configure_threads(workers=1, work="train") == 3
    assert runtime.configure_threads(work="infer") == 1


def test_free_cores_counts_what_other_processes_use_on_our_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    monkeypatch.setattr(runtime, "core_ids", lambda: [0, 1, 2, 3])
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None, percpu=False: [100.0, 100.0, 3.0, 0.0])
    assert runtime.free_cores() == 2
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None, percpu=False: [100.0] * 4)
    assert runtime.free_cores() == 1
    # a taskset share of two cores: what runs on the others is no concern of ours
    monkeypatch.setattr(runtime, "core_ids", lambda: [2, 3])
    assert runtime.free_cores() == 1
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None, percpu=False: [100.0, 100.0, 0.0, 0.0])
    assert runtime.free_cores() == 2
    assert runtime.core_ids()


def test_beautytune_threads_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "free_cores", lambda sample_s=0.1: 8)
    monkeypatch.setenv("BEAUTYTUNE_THREADS", "1")
    assert runtime.configure_threads() == 1
    torch.set_num_threads(2)
    monkeypatch.setenv("BEAUTYTUNE_THREADS", "torch")
    assert runtime.configure_threads() == 2
    monkeypatch.setenv("BEAUTYTUNE_THREADS", "many")
    with pytest.raises(BeautytuneError, match="BEAUTYTUNE_THREADS"):
        runtime.configure_threads()


def test_openmp_waits_passively_unless_the_user_chose() -> None:
    code = "import os, beautytune; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    assert subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    ).stdout.strip() == ("PASSIVE")
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    assert subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    ).stdout.strip() == ("ACTIVE")
