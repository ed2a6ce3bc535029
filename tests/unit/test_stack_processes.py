"""`autoloader up --<service>-replicas N`: the stack's process names and the options' parsing."""

from __future__ import annotations

import pytest

from autoloader_cli.main import _parser
from autoloader_cli.stack import SERVICES, process_names, service_of
from autoloader_core.errors import TerminalError

pytestmark = pytest.mark.unit


def test_one_scheduler_keeps_the_stack_as_it_was() -> None:
    assert process_names() == SERVICES
    assert _parser().parse_args(["up"]).scheduler_replicas == 1


def test_extra_scheduler_replicas_start_after_the_first_and_run_the_scheduler() -> None:
    names = process_names(3)
    assert names == ("api", "scheduler", "scheduler-2", "scheduler-3", "discovery", "loader", "projector")
    assert [service_of(name) for name in names] == [
        "api", "scheduler", "scheduler", "scheduler", "discovery", "loader", "projector"]
    assert _parser().parse_args(["up", "--scheduler-replicas", "3"]).scheduler_replicas == 3


def test_loader_replicas_follow_the_first_loader_and_combine_with_scheduler_ones() -> None:
    names = process_names(2, 3)
    assert names == ("api", "scheduler", "scheduler-2", "discovery", "loader", "loader-2", "loader-3", "projector")
    assert {service_of(name) for name in names if name.startswith("loader")} == {"loader"}
    assert _parser().parse_args(["up", "--loader-replicas", "3"]).loader_replicas == 3
    assert _parser().parse_args(["up"]).loader_replicas == 1


def test_fewer_than_one_replica_is_refused() -> None:
    with pytest.raises(TerminalError, match="at least 1"):
        process_names(0)
    with pytest.raises(TerminalError, match="--loader-replicas must be at least 1"):
        process_names(1, 0)
    with pytest.raises(SystemExit):
        _parser().parse_args(["up", "--scheduler-replicas", "0"])


def test_discovery_and_projector_replicas_start_after_their_first_process() -> None:
    names = process_names(discovery_replicas=2, projector_replicas=3)
    assert names == (
        "api", "scheduler", "discovery", "discovery-2", "loader", "projector", "projector-2", "projector-3")
    parsed = _parser().parse_args(["up", "--discovery-replicas", "2", "--projector-replicas", "3"])
    assert (parsed.discovery_replicas, parsed.projector_replicas) == (2, 3)
    with pytest.raises(TerminalError, match="--projector-replicas must be at least 1"):
        process_names(projector_replicas=0)
