"""Recorder node: camera, joint states, the commands sent to the robot and the instruction -> one rosbag2
MCAP bag per episode (see dit4dit_ros/data/recorder.py for the crash-safety rules).

A thin shell around `EpisodeRecorder`:
- ROS streams are subscribed with `raw=True`: the CDR bytes go into the bag as received (no deserialize /
  serialize at 30 Hz 640x480 + 500 Hz), stamped with the node's clock (use_sim_time is honoured). The
  callbacks also take the DDS publication sequence number, so messages lost before reaching the recorder are
  counted per topic (episode.json `transport_gaps`).
- Unitree DDS commands (rt/lowcmd, rt/arm_sdk, and the Dex3-1 hands' rt/dex3/left/cmd, rt/dex3/right/cmd, from
  external teleoperation without ROS) are subscribed with unitree_sdk2py and stored as the ROS types
  `unitree_hg/msg/LowCmd` on /lowcmd, /arm_sdk and `unitree_hg/msg/HandCmd` on /dex3/<side>/cmd
  (data/lowcmd_cdr.py, data/handcmd_cdr.py).
- Services: /dit4dit/recorder/start, stop, discard (std_srvs/Trigger), /dit4dit/recorder/mark_success
  (std_srvs/SetBool: true = success, false = failure; the running episode, else the last finished one).
- Topics: /dit4dit/recorder/episode_count (std_msgs/UInt32, latched: finished episodes in output_dir),
  /dit4dit/recorder/status (diagnostic_msgs/DiagnosticStatus, key/values, latched; status_msgs.recorder_status),
  with `matched_publishers` per stream: how many publishers this node's readers have matched (a camera that is
  not matched yet loses its best-effort frames; a publisher that must not lose any waits for this).
Stopping the node (Ctrl-C, SIGTERM) finishes the running episode properly; a kill -9 leaves it under
output_dir/.partial/ for `dit4dit record --recover`.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import rclpy
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String, UInt32
from std_srvs.srv import SetBool, Trigger

from dit4dit_ros.config import ParamSpec
from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig, RecorderError
from dit4dit_ros.data.storage import StorageError
from dit4dit_ros.data.topics import (
    DDS_COMMAND_STREAMS,
    DDS_TOPIC_TO_BAG_TOPIC,
    HANDCMD_TYPE,
    StreamRole,
    default_streams,
)
from dit4dit_ros.nodes.qos import latched_qos, qos_by_name
from dit4dit_ros.nodes.ros_params import declare_parameters
from dit4dit_ros.nodes.status_msgs import recorder_status_msg
from dit4dit_ros.nodes.spin import configure_node_transport
from dit4dit_ros.nodes.supervision import beat_from, connect_supervisor
from dit4dit_ros.utils.param_fields import from_params, param_specs
from dit4dit_ros.node_params.recorder import RecorderNodeParams
from dit4dit_ros.utils.process_life import stop_on_signals

NODE_NAME = "recorder"
SERVICE_PREFIX = "/dit4dit/recorder"
STATUS_TOPIC = f"{SERVICE_PREFIX}/status"
COUNT_TOPIC = f"{SERVICE_PREFIX}/episode_count"

PARAMETERS: tuple[ParamSpec, ...] = (*param_specs(RecorderNodeParams), *param_specs(RecorderConfig))


def _decode_string_cdr(data: bytes) -> str:
    """std_msgs/String from CDR bytes (little endian: 4-byte header, uint32 length incl. NUL, bytes)."""
    length = int.from_bytes(data[4:8], "little")
    return bytes(data[8 : 8 + max(0, length - 1)]).decode("utf-8", errors="replace")


def _publisher_key(info: Any) -> Any:
    gid = info.get("publisher_gid") if isinstance(info, dict) else None
    if isinstance(gid, dict):
        data = gid.get("data")
        return tuple(data) if data is not None else None
    return gid


class RecorderNode(Node):
    """See module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        dds_topics = tuple(t.strip() for t in p["dds_command_topics"].split(",") if t.strip())
        unknown = [t for t in dds_topics if t not in DDS_TOPIC_TO_BAG_TOPIC]
        if unknown:
            raise ValueError(f"parameter dds_command_topics: unknown topics {unknown}; expected {sorted(DDS_TOPIC_TO_BAG_TOPIC)}")
        streams = default_streams(
            image_topic=p["image_topic"],
            joint_states_topic=p["joint_states_topic"],
            command_topic=p["command_topic"],
            instruction_topic=p["instruction_topic"],
            dds_command_topics=dds_topics,
        )
        config = from_params(RecorderConfig, p, output_dir=Path(p["output_dir"]).expanduser(), streams=streams)
        self._changed = threading.Event()
        self.recorder = EpisodeRecorder(config, clock=self._now_ns, on_change=self._changed.set)
        self._instruction_text = p["instruction"]
        self._instruction_raw: bytes | None = None
        self._episodes_this_run = 0
        self._episode_started_ns = 0
        self.shutdown_requested = False
        self._last_error_logged: str | None = None

        qos_for = {
            StreamRole.IMAGE: qos_by_name(p["image_qos"], p["image_depth"]),
            StreamRole.STATE: qos_by_name(p["state_qos"], p["state_depth"]),
            StreamRole.COMMAND: qos_by_name(p["command_qos"], p["state_depth"]),
        }
        msg_type = {StreamRole.IMAGE: Image, StreamRole.STATE: JointState, StreamRole.COMMAND: JointState}
        # publishers matched by this node's readers, per topic: the graph view (count_publishers) can list a
        # publisher before this reader accepts its samples, and best-effort samples sent in between are lost
        self._matched_publishers: dict[str, int] = {}
        for stream in streams:
            if stream.role in qos_for:
                self._matched_publishers[stream.topic] = 0
                self.create_subscription(msg_type[stream.role], stream.topic, self._make_callback(stream.topic),
                                         qos_for[stream.role], raw=True,
                                         event_callbacks=self._match_counter(stream.topic))
            elif stream.role is StreamRole.INSTRUCTION:
                self.create_subscription(String, stream.topic, self._make_instruction_callback(stream.topic),
                                         latched_qos(), raw=True)
        self._instruction_topic = p["instruction_topic"]
        self._dds_subscribers = [self._subscribe_dds(t) for t in dds_topics]

        self.count_pub = self.create_publisher(UInt32, COUNT_TOPIC, latched_qos())
        self.status_pub = self.create_publisher(DiagnosticStatus, STATUS_TOPIC, latched_qos())
        self.create_service(Trigger, f"{SERVICE_PREFIX}/start", self._on_start)
        self.create_service(Trigger, f"{SERVICE_PREFIX}/stop", self._on_stop)
        self.create_service(Trigger, f"{SERVICE_PREFIX}/discard", self._on_discard)
        self.create_service(SetBool, f"{SERVICE_PREFIX}/mark_success", self._on_mark)
        self.create_timer(p["status_period_s"], self._publish_status)
        self.create_timer(0.05, self._tick)
        self._publish_status()
        self.get_logger().info(
            f"recorder ready: {config.output_dir.resolve()} ({self.recorder.store.count()} episodes), streams "
            f"{[s.topic for s in streams]}; services {SERVICE_PREFIX}/{{start,stop,discard,mark_success}}"
        )
        # auto_start happens on the first tick, not here: a Ctrl-C during construction must not leave an
        # episode that no node object exists to finish
        self._auto_start_pending = p["auto_start"]

    # -- message paths ----------------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _make_callback(self, topic: str):
        offer = self.recorder.offer
        now = self._now_ns

        def callback(data: bytes, info: Any) -> None:
            offer(topic, now(), data, info.get("publication_sequence_number"), _publisher_key(info))

        return callback

    def _match_counter(self, topic: str) -> SubscriptionEventCallbacks:
        def on_matched(info: Any) -> None:
            self._matched_publishers[topic] = int(info.current_count)
            self._changed.set()  # status goes out on the next tick, so a waiting publisher starts promptly

        return SubscriptionEventCallbacks(matched=on_matched)

    def _make_instruction_callback(self, topic: str):
        def callback(data: bytes, info: Any) -> None:
            self._instruction_raw = data
            self._instruction_text = _decode_string_cdr(data)
            self.recorder.offer(topic, self._now_ns(), data)

        return callback

    def _subscribe_dds(self, dds_topic: str) -> Any:
        from unitree_sdk2py.core.channel import ChannelSubscriber
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_, LowCmd_

        from dit4dit_ros.data.handcmd_cdr import handcmd_to_cdr
        from dit4dit_ros.data.lowcmd_cdr import lowcmd_to_cdr
        from dit4dit_ros.g1.dds import init_unitree_dds

        init_unitree_dds()
        bag_topic, msgtype = DDS_COMMAND_STREAMS[dds_topic]
        idl_type, to_cdr = (HandCmd_, handcmd_to_cdr) if msgtype == HANDCMD_TYPE else (LowCmd_, lowcmd_to_cdr)
        offer, now = self.recorder.offer, self._now_ns

        def handler(msg: Any) -> None:  # CycloneDDS listener thread: pack (~6 us) and queue
            offer(bag_topic, now(), to_cdr(msg))

        subscriber = ChannelSubscriber(dds_topic, idl_type)
        subscriber.Init(handler, 0)
        return subscriber

    # -- control ----------------------------------------------------------------------------------------
    def _start(self, why: str) -> tuple[bool, str]:
        initial = []
        if self._instruction_raw is not None and self._instruction_topic:
            initial.append((self._instruction_topic, self._now_ns(), self._instruction_raw))
        try:
            index = self.recorder.start(self._instruction_text, initial)
        except (RecorderError, StorageError) as exc:
            self.get_logger().error(f"cannot start an episode: {exc}")
            return False, str(exc)
        self._episode_started_ns = self._now_ns()
        message = f"recording episode {index} ({why}), instruction {self._instruction_text!r}"
        self.get_logger().info(message)
        return True, message

    def _stop(self) -> tuple[bool, str]:
        try:
            result = self.recorder.stop()
        except (RecorderError, StorageError) as exc:
            return False, str(exc)
        self._episodes_this_run += 1
        if result.ok:
            return True, (f"episode {result.index} saved to {result.path}: {result.info.duration_s:.1f} s, "
                          f"{result.info.message_counts}")
        self.get_logger().error(f"episode {result.index}: {result.info.error}")
        return False, f"episode {result.index} failed: {result.info.error}"

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._start("service")
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._stop()
        return response

    def _on_discard(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self.recorder.discard()
            response.success = True
        except (RecorderError, StorageError) as exc:
            response.success, response.message = False, str(exc)
        return response

    def _on_mark(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        try:
            response.message = self.recorder.mark_success(bool(request.data))
            response.success = True
        except (RecorderError, StorageError, ValueError) as exc:
            response.success, response.message = False, str(exc)
        return response

    def _tick(self) -> None:
        """Automatic stop/restart (max_episode_s, auto_start, max_episodes) and status on change."""
        p = self.p
        if self._auto_start_pending:
            self._auto_start_pending = False
            self._start("auto_start")
        if self.recorder.recording and p["max_episode_s"] > 0:
            if self._now_ns() - self._episode_started_ns >= p["max_episode_s"] * 1e9:
                ok, message = self._stop()
                (self.get_logger().info if ok else self.get_logger().error)(message)
                if p["max_episodes"] and self._episodes_this_run >= p["max_episodes"]:
                    self.shutdown_requested = True
                elif p["auto_start"]:
                    self._start("auto_start")
        if self._changed.is_set():
            self._changed.clear()
            error = self.recorder.last_error
            if error and error != self._last_error_logged:  # e.g. disk full, raised in the writer thread
                self.get_logger().error(error)
            self._last_error_logged = error
            self._publish_status()

    def _publish_status(self) -> None:
        status = self.recorder.status()
        status["next_instruction"] = self._instruction_text  # what the next episode will be labelled with
        status["matched_publishers"] = dict(self._matched_publishers)
        self.count_pub.publish(UInt32(data=int(status["episodes"])))
        self.status_pub.publish(recorder_status_msg(status))

    def destroy_node(self) -> None:
        """Finish the running episode before the node goes away (Ctrl-C / SIGTERM keep the data)."""
        for subscriber in getattr(self, "_dds_subscribers", []):
            subscriber.Close()
        recorder = getattr(self, "recorder", None)
        if recorder is not None:
            result = recorder.close()
            if result is not None:
                self.get_logger().info(f"episode {result.index} finished on shutdown: {result.info.status}")
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """`ros2 run dit4dit_ros recorder_node` / `python -m dit4dit_ros.nodes.recorder_node`.

    SIGINT/SIGTERM only set a flag (rclpy's own handlers are off): an interrupt can then never land in the
    middle of starting or finishing an episode; the loop ends and the running episode is finished.
    """
    from rclpy.signals import SignalHandlerOptions

    configure_node_transport(NODE_NAME)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    # set from a watcher thread, not the handler: a handler's Event.set can deadlock (utils/process_life.py)
    with stop_on_signals(stop.set):
        link = connect_supervisor(NODE_NAME)  # supervisor dead or hung -> SIGTERM -> the episode is finished
        node = None
        try:
            node = RecorderNode()
            beat_from(node, link)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while rclpy.ok() and not node.shutdown_requested and not stop.is_set():
                executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass
        except (ValueError, StorageError) as exc:  # bad parameters, unwritable output: one clear line
            rclpy.logging.get_logger(NODE_NAME).error(f"recorder cannot start: {exc}")
            return 2
        finally:
            if node is not None:
                node.destroy_node()
            if rclpy.ok():
                rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
