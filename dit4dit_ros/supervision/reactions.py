"""What `dit4dit run` does when a node dies or hangs, by the node's role, and the supervisor's parameters.

Roles: the nodes the robot's motion depends on (the executor, the robot or simulator, its state, the camera,
the policy, teleop) may only `stop` the graph (executor first: the robot goes to damping) or, where the
executor's own watchdogs make it safe, `hold` (the node stays down, the rest keeps running; the executor holds,
then damps, once its inputs stop). Pure observers (monitor, recorder) `restart` by default: a visualisation
crash must not damp the robot. The executor and the robot itself can only `stop`: nothing else can damp.

The parameters live in the deployment YAML under the supervisor's node name (`dit4dit_supervisor`), are
declared once here as ParamSpecs and are checked with the rest of the file before any process starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.node_table import NODES
from dit4dit_ros.supervision.lifeline import LifelineTiming
from dit4dit_ros.utils.dds_transport import TRANSPORT_PARAMETERS
from dit4dit_ros.utils.param_fields import from_params, param_field, param_specs

SUPERVISOR_NODE = "dit4dit_supervisor"


class Reaction(str, Enum):
    STOP = "stop"  # stop the whole graph, executor first (robot to damping)
    HOLD = "hold"  # leave the node down, keep the rest running (the executor's watchdogs hold, then damp)
    RESTART = "restart"  # start the node again (at most restart_limit times), the robot keeps going


# node -> allowed reactions, the first is the default (declared with each node in node_table.py).
ALLOWED_REACTIONS: dict[str, tuple[Reaction, ...]] = {n.name: tuple(Reaction(r) for r in n.on_failure) for n in NODES}

@dataclass(frozen=True)
class SupervisionConfig:
    """The supervisor's validated settings (see SUPERVISOR_PARAMETERS)."""

    heartbeat_period_s: float = param_field(0.2, "lifeline heartbeat period of the supervisor and of every node [s]",
                                            minimum=0.02, maximum=2.0)
    node_hang_timeout_s: float = param_field(
        5.0, "a node whose heartbeats stop this long is hung (SIGSTOP, deadlock) and gets its on_failure reaction [s]",
        minimum=0.2, maximum=120.0)
    supervisor_timeout_s: float = param_field(
        5.0, "every node shuts down to its safe state when the supervisor's heartbeats stop this long (its death is "
        "noticed at once) [s]", minimum=0.2, maximum=120.0)
    restart_limit: int = param_field(3, "restarts per node and run for on_failure 'restart'; then the node stays down",
                                     minimum=0, maximum=100)
    stop_grace_s: float = param_field(5.0, "time a node gets to stop after SIGINT before it is killed [s]",
                                      minimum=0.5, maximum=60.0)
    on_failure: Mapping[str, Reaction] | None = None  # one parameter per node: on_failure.<node>

    def __post_init__(self) -> None:
        reactions = {node: allowed[0] for node, allowed in ALLOWED_REACTIONS.items()}
        for node, reaction in (self.on_failure or {}).items():
            allowed = ALLOWED_REACTIONS.get(node)
            if allowed is None:
                raise ValueError(f"on_failure.{node}: no such node; known: {sorted(ALLOWED_REACTIONS)}")
            reaction = Reaction(reaction)
            if reaction not in allowed:
                raise ValueError(f"on_failure.{node}: {reaction.value!r} is not allowed for this node; "
                                 f"expected one of {[r.value for r in allowed]}")
            reactions[node] = reaction
        object.__setattr__(self, "on_failure", reactions)
        # Both lifeline directions must be consistent with the beat period.
        self.node_timing()
        self.supervisor_timing()

    def node_timing(self) -> LifelineTiming:
        return LifelineTiming(self.heartbeat_period_s, self.node_hang_timeout_s)

    def supervisor_timing(self) -> LifelineTiming:
        """What the nodes are told: how often the supervisor beats and how long they wait for it."""
        return LifelineTiming(self.heartbeat_period_s, self.supervisor_timeout_s)

    def reaction(self, node: str) -> Reaction:
        return self.on_failure.get(node, Reaction.STOP)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "SupervisionConfig":
        """From the flattened parameters of the supervisor's YAML section (already checked by the ParamSpecs)."""
        by_name = {spec.name: spec for spec in SUPERVISOR_PARAMETERS}
        merged = {name: spec.default for name, spec in by_name.items()}
        for name, value in values.items():
            if name in by_name:
                merged[name] = by_name[name].check(value)
        return from_params(cls, merged,
                           on_failure={node: Reaction(merged[f"on_failure.{node}"]) for node in ALLOWED_REACTIONS})


SUPERVISOR_PARAMETERS: tuple[ParamSpec, ...] = (
    *param_specs(SupervisionConfig),
    *(ParamSpec(f"on_failure.{node}", allowed[0].value,
                f"what happens when {node} dies or hangs: {' | '.join(r.value for r in allowed)}",
                choices=tuple(r.value for r in allowed))
      for node, allowed in ALLOWED_REACTIONS.items()),
    *TRANSPORT_PARAMETERS,
)
