"""Variants of a deployment's parameter YAML for benchmarks, tests and demos.

`realtime_sim`: the simulator paced by the wall clock instead of lock-stepped with the policy, so the
executor streams on the wall clock exactly as on the robot (the figures of `dit4dit bench loop` mean what
they would mean on the robot); a small camera image keeps rendering cheap on a CPU.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml


def realtime_sim(data: dict, camera_size: int = 64, policy_rate_hz: float = 3.0,
                 input_timeout: float = 4.0, hold_timeout: float = 8.0, max_chunk_latency: float = 3.0,
                 realtime_robot: bool = True) -> dict:
    """A copy of a g1_sim-style parameter dict with a real-time simulator and tolerant watchdogs.

    The watchdog timeouts are loosened because inference on a loaded 2-core CPU can take a second; on the
    robot's GPU the defaults of config/g1_real.yaml apply.

    `realtime_robot`: the simulated robot's physics + LowState loop under SCHED_FIFO (70, below the executor's 80;
    its render threads stay at normal priority, sim/loop.py). It stands in for the robot's own computer, whose
    state stream no load on the host can pause; at normal priority beside 2 busy processes it fell behind (RTF
    0.94) and paused LowState for 500 ms, and the executor rightly damped (a fresh-clone CI run of the e2e closed
    loop test, 2026-12-04). Without the privilege, one log line says so and it runs at normal priority.
    """
    if "sim_robot" not in data:
        raise ValueError("realtime_sim needs a parameter file with a sim_robot section (config/g1_sim.yaml)")
    out = copy.deepcopy(data)
    out["sim_robot"]["ros__parameters"].update(lockstep=False, camera_width=camera_size, camera_height=camera_size,
                                               camera_rate_hz=10.0, realtime=realtime_robot)
    out["policy"]["ros__parameters"].update(rate_hz=policy_rate_hz, max_image_age=1.0, max_state_age=0.5,
                                            max_state_image_skew=0.5, num_threads=1)
    # state_timeout: the simulator shares 2 cores with the model; its 500 Hz LowState stream can pause for
    # a few 100 ms under load, which on the robot would be a fault but here is only CPU contention.
    # realtime: the control process asks for SCHED_FIFO (granted to root or with rtprio; otherwise one log line
    # says so and it runs at normal priority), so the simulator's rendering and the policy's inference cannot
    # stall the 500 Hz loop for hundreds of milliseconds (docs/realtime.md).
    out["executor"]["ros__parameters"].update(clock="steady", soft_start_time=0.5, input_timeout=input_timeout,
                                              hold_timeout=hold_timeout, max_chunk_latency=max_chunk_latency,
                                              state_timeout=0.5, realtime=True)
    return out


def write_parameter_yaml(data: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
