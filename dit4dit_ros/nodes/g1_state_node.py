"""Proprioception node: the G1's DDS `rt/lowstate` (500 Hz, unitree_sdk2py) -> /joint_states + /imu.

A thin shell around dit4dit_ros.g1.dds.LowStateReader and dit4dit_ros.g1.lowstate_gate.LowStateGate:
- messages the gate refuses are dropped and counted by reason (never published: a corrupted joint angle fed
  to the policy is worse than a missing one): a wrong CRC under `lowstate_crc_policy` (verify on a robot;
  accept_zero for Unitree's own simulators, which publish crc 0), or a `mode_machine` that is not a
  `robot_variant` robot (a 23-DoF G1 has no wrist pitch in slot 20); /diagnostics and the log say why, with
  counts, instead of "waiting";
- the wireless remote report carried in LowState is decoded (g1/remote.py) and published as sensor_msgs/Joy on
  `remote_topic` at the same rate, so the operator can see the remote's buttons in ROS (undecodable reports
  are counted);
- valid samples are decimated to `publish_rate` (deadline schedule, see utils.streams.Decimator) and
  published from the DDS listener thread at once, stamped with the receive time on the ROS clock, so
  /joint_states adds no timer latency; with `stamp_source: lowstate_tick` (the simulator) the stamp is the
  sample's own tick instead, and decimation runs on the tick too. Why: under load the samples reach this node in
  late bursts; decimated on arrival, a burst gave one state and dropped the newest ones, and with the simulation
  paused for the policy right after a frame no newer state came (measured: the newest joint state 0.24-0.35 s
  older than the frame, so the lock-stepped policy could not pair them and the simulation waited out its 30 s
  lock-step timeout). Its /clock, which stamps on receipt use, also reaches this node late under load;
- with `hands: dex3` the Dex3-1 hands' rt/dex3/{left,right}/state (HandState_) are read too and their 7 joints
  each are appended to /joint_states (a hand silent for `stale_timeout_s` drops out of the message);
- silence (no valid sample for `stale_timeout_s`) is detected on the steady clock (a stopped /clock must not
  hide it), logged once when it starts and once when the robot comes back, and reported on /diagnostics.

The node talks to the robot with the Unitree SDK (CycloneDDS) directly, not through ROS (docs/platform.md: FastDDS
and CycloneDDS on one domain need a special profile); only its outputs are ROS topics.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from array import array

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState, Joy

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.g1.lowstate_gate import LowStateGate
from dit4dit_ros.g1.remote import BUTTONS, RemoteState, decode_remote
from dit4dit_ros.nodes.spin import ending_with_context, run_node
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import DIAGNOSTICS, state_qos
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.utils.param_fields import param_specs
from dit4dit_ros.utils.dds_env import DdsIsolation, isolation_from_env
from dit4dit_ros.utils.stamps import seconds_to_stamp
from dit4dit_ros.utils.streams import Decimator, RateMeter, StreamState, StreamWatch
from dit4dit_ros.node_params.g1_state import STAMP_TICK, G1StateParams

NODE_NAME = "g1_state"

PARAMETERS: tuple[ParamSpec, ...] = param_specs(G1StateParams)


def tick_stamp(tick: int) -> Time:
    """A LowState tick (milliseconds) as a ROS time."""
    sec, nanosec = seconds_to_stamp(tick * 1e-3)
    return Time(sec=sec, nanosec=nanosec)


class G1StateNode(Node):
    """Publishes the G1's proprioception to ROS (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self.isolation = self._isolation(p)
        qos = state_qos(p["qos_depth"])
        # A subscriber that matches late gets the newest state at once (`_on_joint_states_matched`)
        self._last_joint_state: JointState | None = None
        self._publish_lock = threading.Lock()
        self.joint_pub = self.create_publisher(
            JointState, p["joint_states_topic"], qos,
            event_callbacks=PublisherEventCallbacks(matched=self._on_joint_states_matched))
        self.imu_pub = self.create_publisher(Imu, p["imu_topic"], qos) if p["publish_imu"] else None
        self.remote_pub = self.create_publisher(Joy, p["remote_topic"], qos) if p["remote_topic"] else None
        self.remote_invalid = 0
        self.diag_pub = self.create_publisher(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        self._tick_stamps = p["stamp_source"] == STAMP_TICK
        # on the tick: the same states pass in every run, whenever this node joined (the fixed grid of the period)
        self.decimator = Decimator(p["publish_rate"], aligned=self._tick_stamps)
        self.watch = StreamWatch(p["stale_timeout_s"])
        self.input_rate = RateMeter(window_s=1.0)
        self.output_rate = RateMeter(window_s=2.0)
        self.gate = LowStateGate(p["lowstate_crc_policy"], p["robot_variant"], p["expected_mode_machine"])
        self.received = 0  # valid LowState messages
        self.published = 0
        self.republished = 0  # joint states sent again to subscribers that matched late
        self.last_tick: int | None = None
        self.last_mode_machine: int | None = None
        self._dropped_reported = 0
        self._variant_error_logged: str | None = None
        self._logged_all_dropped = False
        self._lock = threading.Lock()
        self._names = list(JOINT_NAMES)
        self._last_diag = 0.0
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(min(p["diagnostics_period_s"], p["stale_timeout_s"] / 2), self._check_health,
                          clock=self._steady)

        from dit4dit_ros.g1.dds import LowStateReader, init_unitree_dds

        effective = init_unitree_dds(self.isolation)
        self.get_logger().info(
            f"reading {p['lowstate_topic']} on Unitree DDS domain {effective.unitree_domain_id} interface "
            f"{effective.unitree_interface!r}; publishing {p['joint_states_topic']} at {p['publish_rate']:.0f} Hz")
        self.reader = LowStateReader(self._on_lowstate, topic=p["lowstate_topic"], clock=time.monotonic)
        self.hand_cache = self.hand_readers = None
        if p["hands"] == "dex3":
            from dit4dit_ros.g1.hand_dds import HandStateCache, HandStateReader
            from dit4dit_ros.g1.hands import HandSide

            self.hand_cache = HandStateCache()
            self.hand_readers = [HandStateReader(side, self._on_hand_state) for side in HandSide]

    @staticmethod
    def _isolation(p: dict) -> DdsIsolation:
        env = isolation_from_env()
        return DdsIsolation(
            ros_domain_id=env.ros_domain_id,
            unitree_domain_id=env.unitree_domain_id if p["unitree_domain_id"] < 0 else p["unitree_domain_id"],
            unitree_interface=p["unitree_interface"] or env.unitree_interface,
        )

    # -- DDS listener threads ----------------------------------------------------------------------------
    def _on_hand_state(self, side, sample, _receive_time: float) -> None:
        """A hand's age is kept in robot time (the newest LowState tick when it arrived), not on the wall clock.

        Why: in lock-step the simulation, its hands with it, stands still while the policy thinks or an
        evaluator resets; judged on the wall clock the hands went stale in such a pause, the next /joint_states
        lacked the gripper joints, the policy refused it and the paused simulation waited for an answer that never
        came (a pick_place graph evaluation stopped that way). In robot time a hand is stale only when the robot's
        state goes on without it."""
        with self._lock:
            tick = self.last_tick
        self.hand_cache.update(side, sample, -math.inf if tick is None else tick * 1e-3)

    def _on_lowstate(self, sample) -> None:
        t = sample.receive_time
        with self._lock:
            reason = self.gate.check(sample)
            new_variant_error = None
            if reason is not None and self.gate.variant_error != self._variant_error_logged:
                new_variant_error = self._variant_error_logged = self.gate.variant_error
        if reason is not None:
            if new_variant_error is not None:
                self.get_logger().error(f"refusing {self.p['lowstate_topic']}: {new_variant_error}")
            return
        with self._lock:
            self.received += 1
            self.input_rate.tick(t)
            self.last_tick = sample.tick
            self.last_mode_machine = sample.mode_machine
            transition = self.watch.sample(t)
            # decimated on the time the stamps carry: with tick stamps a late burst of samples (a starved listener)
            # still yields one state per period of robot time, the newest included, not one per period of arrival
            publish = self.decimator.accept(sample.tick * 1e-3 if self._tick_stamps else t)
        if transition is not None:
            if transition.previous is StreamState.STALE:
                self.get_logger().info(f"robot is back: valid {self.p['lowstate_topic']} again after "
                                       f"{transition.gap:.2f} s of silence")
            else:
                self.get_logger().info(f"first valid {self.p['lowstate_topic']} received (tick {sample.tick})")
            self._publish_diagnostics()
        if publish:
            with ending_with_context(self):  # this DDS listener thread outlives the ROS context at shutdown
                self._publish(sample)

    def _publish(self, sample) -> None:
        stamp = tick_stamp(sample.tick) if self._tick_stamps else self.get_clock().now().to_msg()
        js = JointState()
        js.header.stamp = stamp
        js.header.frame_id = self.p["joint_states_frame_id"]
        js.name = self._names
        js.position = array("d", np.ascontiguousarray(sample.q, dtype=np.float64).tobytes())
        js.velocity = array("d", np.ascontiguousarray(sample.dq, dtype=np.float64).tobytes())
        js.effort = array("d", np.ascontiguousarray(sample.tau_est, dtype=np.float64).tobytes())
        if self.hand_cache is not None:
            names, q, dq, tau = self.hand_cache.fresh(sample.tick * 1e-3, self.p["stale_timeout_s"])
            if names:
                js.name = self._names + names
                js.position.extend(q)
                js.velocity.extend(dq)
                js.effort.extend(tau)
        with self._publish_lock:
            self.joint_pub.publish(js)
            self._last_joint_state = js
        if self.imu_pub is not None:
            imu = Imu()
            imu.header.stamp = stamp
            imu.header.frame_id = self.p["imu_frame_id"]
            w, x, y, z = (float(v) for v in sample.imu_quat)  # LowState order: w, x, y, z
            imu.orientation.w, imu.orientation.x, imu.orientation.y, imu.orientation.z = w, x, y, z
            gx, gy, gz = (float(v) for v in sample.imu_gyro)
            imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z = gx, gy, gz
            ax, ay, az = (float(v) for v in sample.imu_acc)
            imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z = ax, ay, az
            self.imu_pub.publish(imu)
        if self.remote_pub is not None:
            try:
                self.remote_pub.publish(remote_to_joy(decode_remote(sample.wireless_remote), stamp))
            except ValueError:
                self.remote_invalid += 1  # not a remote report: counted in /diagnostics, never published
        self.published += 1
        self.output_rate.tick(sample.receive_time)

    def _on_joint_states_matched(self, info) -> None:
        """A new subscriber gets the newest joint state again (with its own stamp), even while LowState pauses.

        The lock-stepped simulator stops LowState while the policy works on a frame; a policy whose subscription
        matched after the last state went out would otherwise find no state to pair the frame with until the
        simulator's lock-step timeout (30 s at start-up). Reliable QoS delivers this sample to the late reader.
        Consumers judge its age by its stamp, as for any sample; one sent twice is the same sample.
        """
        if info.current_count_change <= 0:
            return
        with self._publish_lock:
            if self._last_joint_state is not None:
                self.joint_pub.publish(self._last_joint_state)
                self.republished += 1

    @property
    def crc_dropped(self) -> int:
        """LowState messages dropped for their CRC (crc 0 under verify, or a wrong non-zero crc)."""
        return self.gate.counts.crc_mismatch + self.gate.counts.crc_zero

    # -- health (executor thread, steady clock) -----------------------------------------------------------
    def _check_health(self) -> None:
        now = time.monotonic()
        with self._lock:
            transition = self.watch.check(now)
            if transition is not None:
                self.decimator.reset()
            why = self.gate.explain()
            all_dropped = self.watch.state is StreamState.WAITING and self.gate.counts.received > 0
        if all_dropped and not self._logged_all_dropped:
            self._logged_all_dropped = True  # once: the diagnostic repeats it with current counts
            self.get_logger().error(f"no valid {self.p['lowstate_topic']}: {why}")
        if transition is not None:
            self.get_logger().error(
                f"robot silent: no valid {self.p['lowstate_topic']} for {transition.silent_for:.2f} s "
                f"(stale_timeout_s={self.watch.timeout_s}; last tick {self.last_tick}"
                f"{'; ' + why if why else ''}); /joint_states stopped")
            self._publish_diagnostics()
        elif now - self._last_diag >= self.p["diagnostics_period_s"]:
            self._publish_diagnostics()

    def diagnostic(self) -> diag.DiagnosticStatus:
        now = time.monotonic()
        with self._lock:
            state = self.watch.state
            age = self.watch.age(now)
            counts = self.gate.counts
            new_drops = counts.dropped - self._dropped_reported
            self._dropped_reported = counts.dropped
            why = self.gate.explain()
            values = {
                "state": state.value,
                "received_valid": self.received,
                "received_total": counts.received,
                "crc_dropped": self.crc_dropped,
                "dropped_crc_zero": counts.crc_zero,
                "dropped_crc_mismatch": counts.crc_mismatch,
                "dropped_variant": counts.variant,
                "accepted_crc_zero": counts.accepted_crc_zero,
                "accepted_unchecked": counts.accepted_unchecked,
                "lowstate_crc_policy": self.gate.crc_policy.value,
                "robot_variant": self.gate.variant,
                "published": self.published,
                "remote_invalid": self.remote_invalid,
                "input_rate_hz": self.input_rate.rate(now),
                "publish_rate_hz": self.output_rate.rate(now),
                "target_rate_hz": self.p["publish_rate"],
                "last_sample_age_s": -1.0 if age is None else age,
                "last_tick": -1 if self.last_tick is None else self.last_tick,
                "mode_machine": -1 if self.gate.last_mode_machine is None else self.gate.last_mode_machine,
                "stale_events": self.watch.stale_events,
                "unitree_domain_id": self.isolation.unitree_domain_id,
                "unitree_interface": self.isolation.unitree_interface,
            }
        if counts.variant and new_drops:
            level, message = diag.ERROR, why
        elif state is StreamState.STALE:
            level, message = diag.STALE, f"robot silent: no valid LowState for {age:.2f} s" + (f"; {why}" if why else "")
        elif state is StreamState.WAITING:
            level = diag.WARN if not counts.received else diag.ERROR
            message = f"waiting for {self.p['lowstate_topic']}" if not counts.received else f"no valid LowState: {why}"
        elif new_drops:
            level, message = diag.WARN, f"{new_drops} LowState dropped since the last report; {why}"
        else:
            level, message = diag.OK, "receiving"
        return diag.diagnostic_status(f"{self.get_name()}: {self.p['lowstate_topic']}", level, message,
                                      hardware_id="unitree_g1", values=values)

    def _publish_diagnostics(self) -> None:
        self._last_diag = time.monotonic()
        self.diag_pub.publish(diag.diagnostic_array(self.get_clock().now().to_msg(), self.diagnostic()))

    def destroy_node(self) -> None:
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()
            self.reader = None
        for hand_reader in getattr(self, "hand_readers", None) or []:
            hand_reader.close()
        self.hand_readers = None
        super().destroy_node()


def remote_to_joy(state: RemoteState, stamp) -> Joy:
    """sensor_msgs/Joy of a decoded remote report: axes (lx, ly, rx, ry, L2), buttons in BUTTONS order."""
    joy = Joy()
    joy.header.stamp = stamp
    joy.axes = [float(state.lx), float(state.ly), float(state.rx), float(state.ry), float(state.l2)]
    joy.buttons = [int(name in state.buttons) for name in BUTTONS]
    return joy


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros g1_state_node` / `python -m dit4dit_ros.nodes.g1_state_node`."""
    return run_node(G1StateNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
