"""Entry point of the executor's real-time process (`python -m dit4dit_ros.control.rt.process`), started by
`RtClient` (client.py). No rclpy here: nothing in this interpreter but the tick and its shared memory.

Life cycle: the kernel sends SIGTERM when the parent (the node) dies (PR_SET_PDEATHSIG); SIGTERM or a stop
request from the node start the damping ramp, counted in ticks; the process exits after the ramp's last command
went out. A stale node heartbeat disables (damping ramp, then nothing sent) without ending the process (loop.py).
Exit status 0 after a ramp, 2 when start-up failed (the reason is in the status block and on stderr).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys

from dit4dit_ros.utils.process_life import die_with_parent

HAND_PERIOD = 0.01  # s between Dex3-1 hand commands (the hands run at 100 Hz)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dit4dit_ros.control.rt.process", description=__doc__)
    p.add_argument("--shm", required=True, help="name of the shared-memory block made by the node")
    p.add_argument("--parent", type=int, required=True, help="the node's PID")
    p.add_argument("--config", required=True, help="JSON: executor parameters and the Unitree DDS isolation")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    die_with_parent(args.parent)
    stop = {"reason": ""}

    def on_signal(signum, _frame) -> None:
        stop["reason"] = stop["reason"] or f"signal {signal.Signals(signum).name} (the node stopped or died)"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.setswitchinterval(0.0005)

    from dit4dit_ros.control.rt import shm as S

    cfg = json.loads(args.config)
    params = cfg["params"]
    block = S.ControlShm.attach(args.shm, int(cfg["max_points"]))
    logging.basicConfig(level=logging.INFO, format="[executor-rt] %(levelname)s %(name)s: %(message)s")
    try:
        core, logs = _build_core(block, params)
    except Exception as exc:  # bad parameters, no gravity model: say so, exit
        return _fail(block, exc)

    from dit4dit_ros.control.rt.loop import run_loop
    from dit4dit_ros.utils.realtime import RealtimeConfig, TickGc, apply_realtime

    # Real time before any DDS entity: CycloneDDS creates its receive and timed-event threads with the domain,
    # and a new thread inherits its creator's scheduling. Created afterwards they run under the same SCHED_FIFO
    # as the tick; created before, they stayed at normal priority, and a starved receive thread makes a robot
    # that keeps publishing look silent (the LowState watchdog damps).
    report = apply_realtime(RealtimeConfig.from_values(params), "executor control process")
    try:
        loop = _connect(block, core, cfg, params)
    except Exception as exc:  # DDS bound elsewhere, bad isolation: say so, exit
        return _fail(block, exc)
    loop.extra_status["realtime"] = report.as_dict()
    gc_policy = TickGc()
    gc_policy.freeze()
    block.header[S.H_RT_PID] = os.getpid()
    block.write_status(loop.status())
    block.header[S.H_RT_STATE] = S.RT_RUNNING
    try:
        run_loop(loop, logs, lambda: stop["reason"] or ("stop requested by the node" if block.header[S.H_STOP_REQ] else ""),
                 gc_policy)
    finally:
        gc_policy.restore()
        logs.flush()
        block.write_status(loop.status())
        block.header[S.H_RT_STATE] = S.RT_STOPPED
        loop.poller.close()
        loop.writer.close()
        if loop.hands is not None:
            loop.hands.close()
        block.close()
    return 0


def _fail(block, exc: Exception) -> int:
    from dit4dit_ros.control.rt import shm as S

    logging.getLogger("dit4dit_ros.control.rt").error("executor real-time process cannot start: %s", exc)
    block.write_status({"error": f"{type(exc).__name__}: {exc}"})
    block.header[S.H_RT_STATE] = S.RT_FAILED
    block.close()
    return 2


def _build_core(block, params: dict):
    """The ROS-free executor core and the log ring (no DDS yet, see main)."""
    from dit4dit_ros.control.executor import ExecutorCore
    from dit4dit_ros.control.executor_params import executor_config
    from dit4dit_ros.control.rt.loop import DeferredLog

    ecfg = executor_config(params)
    gravity = None
    if ecfg.gravity_compensation:
        from dit4dit_ros.g1.gravity import GravityModel

        try:
            if params["hands"] == "dex3":  # the hands weigh on the arms
                from dit4dit_ros.g1.model import build_robot_model

                gravity = GravityModel(build_robot_model(hands="dex3"))
            else:
                gravity = GravityModel()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"gravity_compensation needs the MuJoCo G1 model ({exc}); "
                               "set gravity_compensation:=false to run without it") from exc
    hands = None
    if params["hands"] == "dex3":
        from dit4dit_ros.control.hands import HandControlConfig, HandController

        hands = HandController(HandControlConfig(period=HAND_PERIOD))
    core = ExecutorCore(ecfg, gravity=gravity, hands=hands)
    logs = DeferredLog(block)  # the node logs each line (ROS log); no second copy on stderr
    root = logging.getLogger("dit4dit_ros")
    root.handlers = [logs]
    root.setLevel(logging.INFO)
    root.propagate = False  # one line per record: the node logs what the ring carries
    return core, logs


def _connect(block, core, cfg: dict, params: dict):
    """The DDS side: the Unitree domain, the LowState poller, the command writer, and the loop around them."""
    from dit4dit_ros.control.rt.loop import LoopOptions, RtLoop
    from dit4dit_ros.g1.dds import LowCmdWriter, LowStatePoller, init_unitree_dds
    from dit4dit_ros.g1.lowcmd import ControlPath
    from dit4dit_ros.utils.dds_env import DdsIsolation

    iso = cfg["isolation"]
    init_unitree_dds(DdsIsolation(ros_domain_id=int(iso["ros_domain_id"]), unitree_domain_id=int(iso["unitree_domain_id"]),
                                  unitree_interface=str(iso["unitree_interface"])))
    path = ControlPath.ARM_SDK if params["control_path"] == "arm_sdk" else ControlPath.LOWCMD
    opts = LoopOptions(ros_clock=params["clock"] == "ros", auto_enable=bool(params["auto_enable"]),
                       mode_pr=int(params["mode_pr"]), arm_sdk=path is ControlPath.ARM_SDK,
                       heartbeat_timeout=float(params["node_heartbeat_timeout"]),
                       command_echo=bool(params.get("command_echo", False)))
    writer = LowCmdWriter(path)
    loop = RtLoop(core, LowStatePoller(topic=params["lowstate_topic"]), writer, block, opts)
    if core.hands is not None:
        from dit4dit_ros.control.rt.hands import RtHands

        loop.hands = RtHands(core, every=round(HAND_PERIOD / loop.period))
    _add_enable_checks(loop, params, writer, path.value)
    return loop


def _add_enable_checks(loop, params: dict, writer, topic: str) -> None:
    """What the core asks before any enable (service or remote): a reader of the commands, the clock offset."""
    from dit4dit_ros.control.interlock_params import clock_offset_check
    from dit4dit_ros.control.interlocks import command_reader_check

    if params["require_command_reader"]:
        loop.core.add_enable_check(command_reader_check(writer.matched_readers, topic))
    loop.clock_check = clock_offset_check(params)
    loop.core.add_enable_check(loop.clock_check.verdict)


if __name__ == "__main__":
    sys.exit(main())
