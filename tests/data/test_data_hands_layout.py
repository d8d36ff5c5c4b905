"""The G1 hand/gripper layout through the data path: the channel table, the model's RobotLayout, the writer's
modality.json with the official DiT4DiT G1 keys, the exporter (JointState hand joints and gripper channels,
Unitree Dex3-1 HandCmd streams) and the training reader, value by value."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dit4dit_ros.data import lerobot_format as fmt
from dit4dit_ros.data.lerobot_dataset import LeRobotDataset, LeRobotReaderConfig
from dit4dit_ros.data.lerobot_export import ExportConfig, export_episodes, find_bags
from dit4dit_ros.data.lerobot_validate import validate_dataset
from dit4dit_ros.data.lerobot_writer import DatasetSpec, LeRobotDatasetWriter
from dit4dit_ros.data.synthetic import (
    COMMAND_OFFSET,
    SyntheticEpisodeSpec,
    encode_frame_number,
    ramp_positions,
    write_synthetic_episodes,
)
from dit4dit_ros.g1.channels import (
    BODY_GROUPS,
    CHANNEL_NAMES,
    DEX3_G1_GROUPS,
    OFFICIAL_G1_GROUPS,
    channel_position_limits,
    channels_of_groups,
    check_groups,
    groups_of_channels,
)
from dit4dit_ros.g1.hands import ALL_GRIPPER_NAMES as GRIPPERS
from dit4dit_ros.g1.hands import HAND_JOINT_NAMES, HandSide, hand_side
from dit4dit_ros.g1.joints import ARMS, JOINT_NAMES
from dit4dit_ros.model.normalization import NormalizationStats, RobotLayout

OFFICIAL = ARMS + ("left_gripper", "right_gripper")


LEFT_HAND, RIGHT_HAND = HAND_JOINT_NAMES[HandSide.LEFT], HAND_JOINT_NAMES[HandSide.RIGHT]


def test_channel_table_has_the_official_keys_and_dex3_wire_order():
    # Unitree's Dex3-1 motor slots: the right module is the left one turned over, so slots 3-4 hold its index finger
    assert LEFT_HAND == ("left_hand_thumb_0_joint", "left_hand_thumb_1_joint", "left_hand_thumb_2_joint",
                         "left_hand_middle_0_joint", "left_hand_middle_1_joint", "left_hand_index_0_joint",
                         "left_hand_index_1_joint")
    assert RIGHT_HAND == ("right_hand_thumb_0_joint", "right_hand_thumb_1_joint", "right_hand_thumb_2_joint",
                          "right_hand_index_0_joint", "right_hand_index_1_joint", "right_hand_middle_0_joint",
                          "right_hand_middle_1_joint")
    names, slices = channels_of_groups(OFFICIAL_G1_GROUPS)
    assert names == OFFICIAL
    assert slices == {"left_arm": (0, 7), "right_arm": (7, 14), "left_gripper": (14, 15), "right_gripper": (15, 16)}
    assert channels_of_groups(DEX3_G1_GROUPS)[0] == ARMS + LEFT_HAND + RIGHT_HAND
    assert groups_of_channels(OFFICIAL) == OFFICIAL_G1_GROUPS and groups_of_channels(ARMS[1:]) is None
    assert len(CHANNEL_NAMES) == len(set(CHANNEL_NAMES)) == 29 + 14 + 2
    lo, hi = channel_position_limits(["left_gripper", "left_hand_thumb_2_joint", "right_hand_thumb_2_joint",
                                      "left_elbow_joint"])
    np.testing.assert_allclose(lo, [0.0, 0.0, -1.74533, -1.0472])
    np.testing.assert_allclose(hi, [1.0, 1.74533, 0.0, 2.0944])
    with pytest.raises(ValueError, match=r"unknown G1 group\(s\) \['left_claw'\]"):
        check_groups(["left_arm", "left_claw"])
    with pytest.raises(ValueError, match="describe the same hand"):
        check_groups(["left_hand", "left_gripper"])
    with pytest.raises(ValueError, match="listed twice"):
        check_groups(["left_arm", "left_arm"])
    with pytest.raises(ValueError, match="hand side must be 'left' or 'right', got 'middle'"):
        hand_side("middle")


def test_robot_layout_takes_hands_and_grippers():
    layout = RobotLayout.from_groups(OFFICIAL_G1_GROUPS, control_period=0.1)
    assert layout.action_joints == OFFICIAL and layout.num_action_joints == 16 and layout.encoded_state_width == 32
    assert layout.state_groups == OFFICIAL_G1_GROUPS and RobotLayout().action_groups == ("left_arm", "right_arm")
    assert RobotLayout.from_dict(layout.to_dict()) == layout
    stats = NormalizationStats.for_layout(layout)
    np.testing.assert_allclose(stats.action.min[14:], 0.0)
    np.testing.assert_allclose(stats.action.max[14:], 1.0)
    dex3 = RobotLayout.from_groups(DEX3_G1_GROUPS)
    assert dex3.num_action_joints == 28
    with pytest.raises(ValueError, match=r"unknown G1 channel name\(s\) \['left_claw'\]"):
        RobotLayout(state_joints=ARMS + ("left_claw",))


def _frames(n, h=32, w=32):
    return (encode_frame_number(k, h, w) for k in range(n))


def test_writer_and_reader_carry_the_official_gripper_layout(tmp_path):
    spec = DatasetSpec(fps=10, state_groups=OFFICIAL_G1_GROUPS, action_groups=OFFICIAL_G1_GROUPS,
                       video_sizes={"ego_view": (32, 32)})
    writer = LeRobotDatasetWriter(tmp_path / "ds", spec)
    t = np.arange(20) / 10
    state = ramp_positions(t, 16)
    state[:, 14:] = np.clip(t[:, None] / 2, 0, 1)  # grippers close over the episode
    action = state + 0.01
    action[:, 14:] = (t[:, None] > 1.0).astype(float)  # a binary gripper command
    writer.add_episode("pick the cube", state, action, {"ego_view": _frames(20)})
    with pytest.raises(ValueError, match=r"state has shape \(20, 14\), expected \(20, 16\) for groups"):
        writer.add_episode("pick the cube", state[:, :14], action, {"ego_view": _frames(20)})
    root = writer.finalize()
    assert validate_dataset(root) == []
    info = json.loads((root / fmt.INFO_PATH).read_text())
    assert info["features"]["action"]["names"] == list(OFFICIAL)
    modality = json.loads((root / fmt.MODALITY_PATH).read_text())
    assert list(modality["state"]) == list(OFFICIAL_G1_GROUPS)
    assert modality["action"]["left_gripper"] == {"start": 14, "end": 15, "absolute": True}
    assert modality["video"] == {"ego_view": {"original_key": "observation.images.ego_view"}}

    layout = RobotLayout.from_groups(OFFICIAL_G1_GROUPS, control_period=0.1)
    ds = LeRobotDataset(root, LeRobotReaderConfig(layout=layout, image_size=(32, 32), action_horizon=4))
    np.testing.assert_allclose(ds.action, action, atol=1e-6)
    sample = ds[12]
    raw = ds.codec.unnormalize_action(sample["action"].numpy())
    np.testing.assert_allclose(raw, action[12:16], atol=1e-5)
    assert sample["action_mask"][:, :16].eq(1).all() and sample["action_mask"][:, 16:].eq(0).all()
    # min-max: the binary gripper command maps to exactly -1 / +1
    np.testing.assert_allclose(sample["action"][:, 14].numpy(), [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(ds[0]["action"][:, 15].numpy(), [-1.0, -1.0, -1.0, -1.0])
    # a layout asking for hand joints the dataset does not have: the error names them
    with pytest.raises(ValueError, match="cannot tell which columns of 'observation.state'"):
        LeRobotDataset(root, LeRobotReaderConfig(layout=RobotLayout.from_groups(DEX3_G1_GROUPS)))


HANDS_AND_GRIPPERS = JOINT_NAMES + LEFT_HAND + RIGHT_HAND + GRIPPERS


@pytest.fixture(scope="module")
def hand_bags(tmp_path_factory):
    """Episodes whose /joint_states and command streams carry the 29 joints, both hands and both grippers."""
    root = tmp_path_factory.mktemp("hand_episodes")
    write_synthetic_episodes(root, [SyntheticEpisodeSpec(duration_s=1.0, image_rate=10.0, channels=HANDS_AND_GRIPPERS)])
    return root


def test_export_selects_hand_and_gripper_groups_from_joint_states(hand_bags, tmp_path):
    column = {n: i for i, n in enumerate(HANDS_AND_GRIPPERS)}
    for groups in (OFFICIAL_G1_GROUPS, DEX3_G1_GROUPS):
        out = tmp_path / "_".join(groups)
        (report,) = export_episodes(find_bags([hand_bags]), out, ExportConfig(state_groups=groups, action_groups=groups))
        assert validate_dataset(out) == []
        names = channels_of_groups(groups)[0]
        idx = np.array([column[n] for n in names])
        ds = LeRobotDataset(out, LeRobotReaderConfig(layout=RobotLayout.from_groups(groups), image_size=(48, 64)))
        t = np.arange(report.frames) / 10
        np.testing.assert_allclose(ds.state, ramp_positions(t, len(HANDS_AND_GRIPPERS))[:, idx], atol=2e-6)
        held = np.floor(t * 100 + 1e-6) / 100
        expected = ramp_positions(held, len(HANDS_AND_GRIPPERS))[:, idx] + COMMAND_OFFSET
        np.testing.assert_allclose(ds.action, expected, atol=2e-6)
        modality = json.loads((out / fmt.MODALITY_PATH).read_text())
        assert list(modality["action"]) == list(groups)


def test_export_without_a_gripper_channel_says_how_to_get_one(tmp_path):
    write_synthetic_episodes(tmp_path / "bags", [SyntheticEpisodeSpec(duration_s=1.0)])
    with pytest.raises(ValueError, match=r"carries \['left_gripper', 'right_gripper'\].*record it as a JointState name"):
        export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "ds",
                        ExportConfig(state_groups=ARMS_GROUPS, action_groups=OFFICIAL_G1_GROUPS))
    assert not (tmp_path / "ds").exists()


ARMS_GROUPS = ("left_arm", "right_arm")


def test_body_groups_cover_every_channel_once():
    seen = [c for chans in BODY_GROUPS.values() for c in chans]
    assert sorted(seen) == sorted(CHANNEL_NAMES)


def _handcmd(q):
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import HandCmd_, MotorCmd_

    motors = [MotorCmd_(mode=1, q=float(v), dq=0.0, tau=0.0, kp=1.5, kd=0.1, reserve=0) for v in q]
    return HandCmd_(motor_cmd=motors, reserve=[0, 0, 0, 0])


def test_handcmd_cdr_matches_the_ros_serializer():
    from dit4dit_ros.data.handcmd_cdr import handcmd_q_from_cdr, handcmd_to_cdr
    from dit4dit_ros.data.lowcmd_cdr import MOTORCMD_TYPE
    from dit4dit_ros.data.topics import HANDCMD_TYPE, recording_typestore

    store = recording_typestore()
    HandCmd, MotorCmd = store.types[HANDCMD_TYPE], store.types[MOTORCMD_TYPE]
    q = np.linspace(-0.5, 0.5, 7).astype(np.float32)
    motors = [MotorCmd(mode=i, q=q[i], dq=np.float32(0.1), tau=np.float32(0.0), kp=np.float32(1.5),
                       kd=np.float32(0.1), reserve=i) for i in range(7)]
    msg = HandCmd(motor_cmd=motors, reserve=np.array([1, 2, 3, 4], np.uint32))
    data = handcmd_to_cdr(msg)
    assert data == bytes(store.serialize_cdr(msg, HANDCMD_TYPE))
    np.testing.assert_array_equal(handcmd_q_from_cdr(data), q)
    np.testing.assert_array_equal(handcmd_q_from_cdr(handcmd_to_cdr(_handcmd(q))), q)  # the SDK's own type
    with pytest.raises(ValueError, match="7 motors need 220 bytes, got 216"):
        handcmd_q_from_cdr(data[:-4])


def test_export_takes_hand_actions_from_recorded_dex3_commands(tmp_path):
    """Unitree XR teleop drives the arms on rt/arm_sdk and the hands on rt/dex3/<side>/cmd: all three
    recorded streams make one action vector (arms + both hands, Dex3 motor order)."""
    from dit4dit_ros.data.handcmd_cdr import handcmd_to_cdr
    from dit4dit_ros.data.lowcmd_cdr import lowcmd_to_cdr
    from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig
    from dit4dit_ros.data.synthetic import synthetic_messages
    from dit4dit_ros.data.topics import default_streams
    from dit4dit_ros.g1.lowcmd import ControlPath, MotorCommand, build_lowcmd

    spec = SyntheticEpisodeSpec(duration_s=1.0, start_ns=10**12, channels=HANDS_AND_GRIPPERS)
    streams = default_streams(command_topic="", dds_command_topics=("rt/arm_sdk", "rt/dex3/left/cmd", "rt/dex3/right/cmd"))
    rec = EpisodeRecorder(RecorderConfig(tmp_path / "bags", streams, min_free_mb=0.0, reserve_free_mb=0.0))
    rec.start(spec.instruction)
    messages = [m for m in synthetic_messages(spec) if m[0] != "/dit4dit/executor/command"]
    n = len(HANDS_AND_GRIPPERS)
    for k in range(101):  # 100 Hz commands: arms = ramp + 0.02, left hand = ramp + 0.03, right hand = ramp + 0.04
        t = spec.start_ns + k * 10_000_000
        q = ramp_positions(k / 100, n)
        arm = build_lowcmd(MotorCommand.hold(q[:29] + 0.02), mode_machine=5, path=ControlPath.ARM_SDK)
        messages.append(("/arm_sdk", t, lowcmd_to_cdr(arm)))
        messages.append(("/dex3/left/cmd", t + 1, handcmd_to_cdr(_handcmd(q[29:36] + 0.03))))
        messages.append(("/dex3/right/cmd", t + 2, handcmd_to_cdr(_handcmd(q[36:43] + 0.04))))
    for topic, t, data in sorted(messages, key=lambda m: m[1]):
        assert rec.offer(topic, t, data)
    rec.stop()
    rec.close()
    out = tmp_path / "ds"
    config = ExportConfig(state_groups=DEX3_G1_GROUPS, action_groups=DEX3_G1_GROUPS,
                          action_topics=("/arm_sdk", "/dex3/left/cmd", "/dex3/right/cmd"))
    (report,) = export_episodes(find_bags([tmp_path / "bags"]), out, config)
    assert validate_dataset(out) == [] and set(report.max_gaps_s) >= {"/arm_sdk", "/dex3/left/cmd", "/dex3/right/cmd"}
    ds = LeRobotDataset(out, LeRobotReaderConfig(layout=RobotLayout.from_groups(DEX3_G1_GROUPS), image_size=(48, 64)))
    t = np.arange(report.frames) / 30
    held = ramp_positions(np.floor(t * 100 + 1e-6) / 100, n)
    offsets = np.r_[np.full(14, 0.02), np.full(7, 0.03), np.full(7, 0.04)]
    columns = np.r_[np.arange(15, 29), np.arange(29, 43)]
    np.testing.assert_allclose(ds.action, held[:, columns] + offsets, atol=1e-6)  # float32 on the wire
    # a Dex3 stream carries only its own hand: asking it for the other one names what it has
    with pytest.raises(ValueError, match="no stream of \\['/dex3/left/cmd'\\] carries"):
        export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "bad",
                        ExportConfig(state_groups=DEX3_G1_GROUPS, action_groups=("right_hand",),
                                     action_topics=("/dex3/left/cmd",)))


def test_export_leaves_out_joint_states_from_before_the_hands_arrived(tmp_path, caplog):
    """g1_state appends the hand joints to /joint_states only while the hands' state is fresh: the first 0.3 s
    of this episode name the 29 body joints only. Those messages are left out (with a warning) and the
    frame grid starts where every exported channel has data."""
    from dit4dit_ros.data.recorder import EpisodeRecorder, RecorderConfig
    from dit4dit_ros.data.synthetic import joint_state_cdr, synthetic_messages
    from dit4dit_ros.data.topics import JOINT_STATES_TOPIC, default_streams

    spec = SyntheticEpisodeSpec(duration_s=1.0, start_ns=10**12, channels=HANDS_AND_GRIPPERS)
    rec = EpisodeRecorder(RecorderConfig(tmp_path / "bags", default_streams(), min_free_mb=0.0, reserve_free_mb=0.0))
    rec.start(spec.instruction)
    late = spec.start_ns + 300_000_000
    for topic, t, data in synthetic_messages(spec):
        if topic == JOINT_STATES_TOPIC and t < late:
            data = joint_state_cdr(JOINT_NAMES, ramp_positions((t - spec.start_ns) * 1e-9), t)
        assert rec.offer(topic, t, data)
    rec.stop()
    rec.close()
    with caplog.at_level("WARNING", logger="dit4dit_ros.data.bag_reader"):
        (report,) = export_episodes(find_bags([tmp_path / "bags"]), tmp_path / "ds",
                                    ExportConfig(state_groups=DEX3_G1_GROUPS, action_groups=DEX3_G1_GROUPS))
    assert any("150 of 501 /joint_states messages lack some of the exported joints" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert report.frames == 22  # 0.3 .. 1.0 s at 30 fps
    ds = LeRobotDataset(tmp_path / "ds", LeRobotReaderConfig(layout=RobotLayout.from_groups(DEX3_G1_GROUPS),
                                                             image_size=(48, 64)))
    t = 0.3 + np.arange(22) / 30
    idx = np.array([HANDS_AND_GRIPPERS.index(n) for n in channels_of_groups(DEX3_G1_GROUPS)[0]])
    np.testing.assert_allclose(ds.state, ramp_positions(t, len(HANDS_AND_GRIPPERS))[:, idx], atol=2e-6)
    # a stream that never names the hands is still an error that says so
    with pytest.raises(ValueError, match="no /joint_states message names all of"):
        from dit4dit_ros.data.bag_reader import EpisodeBag

        EpisodeBag(find_bags([tmp_path / "bags"])[0]).joint_series("/joint_states", ["left_hand_thumb_0_joint",
                                                                                    "no_such_joint"])
