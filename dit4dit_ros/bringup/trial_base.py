"""What a safety trial is: its input, how it runs, its outcome, and where it runs (`TrialContext`).

Both trial tables (bringup/safety_trials.py: attacks on a running graph; bringup/interlock_trials.py: the executor's
interlocks) build on these, and `safety_trials.TRIALS` joins them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dit4dit_ros.utils.waiting import wait_until


@dataclass(frozen=True)
class TrialOutcome:
    reached_robot: str  # what the robot's side of the wire saw (or "nothing started")
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Trial:
    name: str
    input: str
    run: Callable[["TrialContext"], TrialOutcome]
    slow: bool = True  # starts a graph or a model


class TrialContext:
    """Where a trial runs: the repository's config, a scratch directory, graphs started on demand."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.config, self.workdir = Path(config), Path(workdir)
        self._count = 0

    def scratch(self, name: str) -> Path:
        self._count += 1
        path = self.workdir / f"{self._count:02d}_{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def graph(self, name: str, drop: tuple[str, ...] = ("policy",), args: tuple[str, ...] = (), supervisor=None):
        from dit4dit_ros.bringup.profiles import write_parameter_yaml
        from dit4dit_ros.bringup.trial_graph import TrialGraph, trial_parameters

        where = self.scratch(name)
        config = write_parameter_yaml(trial_parameters(self.config, supervisor=supervisor, drop=drop),
                                      where / "params.yaml")
        graph = TrialGraph(config, where / "logs", args=args).start()
        wait_until(lambda: graph.wire.summary().tracking > 200, 60, poll=0.1, what="the executor streaming")
        return graph
