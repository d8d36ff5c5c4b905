"""Proprioception node: the G1's DDS `rt/lowstate` (500 Hz, unitree_sdk2py) -> /joint_states + /imu.

A thin shell around dit4dit_ros.g1.dds.LowStateReader (CRC checked in dit4dit_ros.g1.lowstate):
- messages with a bad CRC are dropped and counted (never published: a corrupted joint angle fed to the
  policy is worse than a missing one);
- valid samples are decimated to `publish_rate` (deadline schedule, see utils.streams.Decimator) and
  published from the DDS listener thread at once, stamped with the receive time on the ROS clock, so
  /joint_states adds no timer latency;
- silence (no valid sample for `stale_timeout_s`) is detected on the steady clock (a stopped /clock must not
  hide it), logged once when it starts and once when the robot comes back, and reported on /diagnostics.

The node talks to the robot with the Unitree SDK (CycloneDDS) directly, not through ROS (docs/platform.md: FastDDS
and CycloneDDS on one domain need a special profile); only its outputs are ROS topics.
"""
from __future__ import annotations

import sys
import threading
import time
from array import array

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.g1.joints import JOINT_NAMES
from dit4dit_ros.nodes.spin import run_node
from dit4dit_ros.nodes import diagnostics as diag
from dit4dit_ros.nodes.qos import DIAGNOSTICS, state_qos
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.utils.dds_env import DdsIsolation, MAX_CYCLONE_DOMAIN, isolation_from_env
from dit4dit_ros.utils.streams import Decimator, RateMeter, StreamState, StreamWatch

NODE_NAME = "g1_state"

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("unitree_domain_id", -1,
              "CycloneDDS domain of the robot (real G1: 0); -1 = $DIT4DIT_UNITREE_DOMAIN (default 0)",
              minimum=-1, maximum=MAX_CYCLONE_DOMAIN),
    ParamSpec("unitree_interface", "",
              "network interface to the robot (e.g. 'eth0'; 'lo' in sim; 'auto' = CycloneDDS picks); "
              "empty = $DIT4DIT_UNITREE_INTERFACE (default 'lo')"),
    ParamSpec("lowstate_topic", "rt/lowstate", "Unitree DDS topic of LowState_"),
    ParamSpec("publish_rate", 100.0, "rate of /joint_states and /imu [Hz] (LowState arrives at 500 Hz)",
              minimum=1.0, maximum=1000.0),
    ParamSpec("joint_states_topic", "/joint_states", "sensor_msgs/JointState topic"),
    ParamSpec("imu_topic", "/imu", "sensor_msgs/Imu topic"),
    ParamSpec("publish_imu", True, "publish the pelvis IMU of LowState on imu_topic"),
    ParamSpec("imu_frame_id", "imu_in_pelvis", "header.frame_id of the IMU message (G1 URDF link)"),
    ParamSpec("joint_states_frame_id", "", "header.frame_id of JointState (empty, as robot_state_publisher expects)"),
    ParamSpec("qos_depth", 10, "KEEP_LAST depth of the (reliable) state QoS", minimum=1, maximum=1000),
    ParamSpec("stale_timeout_s", 0.2, "no valid LowState for this long -> robot silent (log + diagnostic)",
              minimum=0.01, maximum=60.0),
    ParamSpec("diagnostics_period_s", 1.0, "period of /diagnostics reports [s]", minimum=0.05, maximum=60.0),
)


class G1StateNode(Node):
    """Publishes the G1's proprioception to ROS (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        self.isolation = self._isolation(p)
        qos = state_qos(p["qos_depth"])
        self.joint_pub = self.create_publisher(JointState, p["joint_states_topic"], qos)
        self.imu_pub = self.create_publisher(Imu, p["imu_topic"], qos) if p["publish_imu"] else None
        self.diag_pub = self.create_publisher(DiagnosticArray, diag.DIAGNOSTICS_TOPIC, DIAGNOSTICS)
        self.decimator = Decimator(p["publish_rate"])
        self.watch = StreamWatch(p["stale_timeout_s"])
        self.input_rate = RateMeter(window_s=1.0)
        self.output_rate = RateMeter(window_s=2.0)
        self.received = 0  # valid LowState messages
        self.crc_dropped = 0
        self.published = 0
        self.last_tick: int | None = None
        self.last_mode_machine: int | None = None
        self._crc_dropped_reported = 0
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

    @staticmethod
    def _isolation(p: dict) -> DdsIsolation:
        env = isolation_from_env()
        return DdsIsolation(
            ros_domain_id=env.ros_domain_id,
            unitree_domain_id=env.unitree_domain_id if p["unitree_domain_id"] < 0 else p["unitree_domain_id"],
            unitree_interface=p["unitree_interface"] or env.unitree_interface,
        )

    # -- DDS listener thread -----------------------------------------------------------------------------
    def _on_lowstate(self, sample) -> None:
        t = sample.receive_time
        with self._lock:
            if not sample.crc_ok:
                self.crc_dropped += 1
                return
            self.received += 1
            self.input_rate.tick(t)
            self.last_tick = sample.tick
            self.last_mode_machine = sample.mode_machine
            transition = self.watch.sample(t)
            publish = self.decimator.accept(t)
        if transition is not None:
            if transition.previous is StreamState.STALE:
                self.get_logger().info(f"robot is back: valid {self.p['lowstate_topic']} again after "
                                       f"{transition.gap:.2f} s of silence")
            else:
                self.get_logger().info(f"first valid {self.p['lowstate_topic']} received (tick {sample.tick})")
            self._publish_diagnostics()
        if publish:
            self._publish(sample)

    def _publish(self, sample) -> None:
        stamp = self.get_clock().now().to_msg()
        js = JointState()
        js.header.stamp = stamp
        js.header.frame_id = self.p["joint_states_frame_id"]
        js.name = self._names
        js.position = array("d", np.ascontiguousarray(sample.q, dtype=np.float64).tobytes())
        js.velocity = array("d", np.ascontiguousarray(sample.dq, dtype=np.float64).tobytes())
        js.effort = array("d", np.ascontiguousarray(sample.tau_est, dtype=np.float64).tobytes())
        self.joint_pub.publish(js)
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
        self.published += 1
        self.output_rate.tick(sample.receive_time)

    # -- health (executor thread, steady clock) -----------------------------------------------------------
    def _check_health(self) -> None:
        now = time.monotonic()
        with self._lock:
            transition = self.watch.check(now)
            if transition is not None:
                self.decimator.reset()
        if transition is not None:
            self.get_logger().error(
                f"robot silent: no valid {self.p['lowstate_topic']} for {transition.silent_for:.2f} s "
                f"(stale_timeout_s={self.watch.timeout_s}; last tick {self.last_tick}, "
                f"{self.crc_dropped} bad-CRC messages dropped so far); /joint_states stopped")
            self._publish_diagnostics()
        elif now - self._last_diag >= self.p["diagnostics_period_s"]:
            self._publish_diagnostics()

    def diagnostic(self) -> diag.DiagnosticStatus:
        now = time.monotonic()
        with self._lock:
            state = self.watch.state
            age = self.watch.age(now)
            new_drops = self.crc_dropped - self._crc_dropped_reported
            self._crc_dropped_reported = self.crc_dropped
            values = {
                "state": state.value,
                "received_valid": self.received,
                "crc_dropped": self.crc_dropped,
                "published": self.published,
                "input_rate_hz": self.input_rate.rate(now),
                "publish_rate_hz": self.output_rate.rate(now),
                "target_rate_hz": self.p["publish_rate"],
                "last_sample_age_s": -1.0 if age is None else age,
                "last_tick": -1 if self.last_tick is None else self.last_tick,
                "mode_machine": -1 if self.last_mode_machine is None else self.last_mode_machine,
                "stale_events": self.watch.stale_events,
                "unitree_domain_id": self.isolation.unitree_domain_id,
                "unitree_interface": self.isolation.unitree_interface,
            }
        if state is StreamState.STALE:
            level, message = diag.STALE, f"robot silent: no valid LowState for {age:.2f} s"
        elif state is StreamState.WAITING:
            level, message = diag.WARN, f"waiting for {self.p['lowstate_topic']}"
        elif new_drops:
            level, message = diag.WARN, f"{new_drops} LowState messages with a bad CRC dropped"
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
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros g1_state_node` / `python -m dit4dit_ros.nodes.g1_state_node`."""
    return run_node(G1StateNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
