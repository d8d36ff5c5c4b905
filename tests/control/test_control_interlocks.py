"""ExecutorCore's interlocks in simulated time, fed real LowState bytes (encoded with the robot's CRC, decoded by
the same function the DDS reader uses): the LowState gate (CRC policy, robot variant), the wireless remote's
buttons, enable checks, "commands have no effect" and the continuous-clipping alarm; and the clock-offset check."""
from __future__ import annotations

import numpy as np
import pytest

from dit4dit_ros.control import ActionChunk, ExecutorConfig, ExecutorCore, Mode, Verdict, WatchdogConfig
from dit4dit_ros.control.config import InterlockConfig
from dit4dit_ros.control.interlocks import ClockOffsetCheck, ClockOffsetReport
from dit4dit_ros.g1.joints import JOINT_INDEX, RIGHT_ARM, joint_indices, limits_array
from dit4dit_ros.g1.lowstate import decode_lowstate_cdr, encode_lowstate_cdr
from dit4dit_ros.g1.remote import encode_remote

DT = 0.002
ELBOW = JOINT_INDEX["left_elbow_joint"]
WD = WatchdogConfig(input_timeout=5.0, hold_timeout=5.0, state_timeout=0.02)


class Rig:
    """A core, a robot that follows its commands with a lag (or ignores them: `follows=False`), simulated time."""

    def __init__(self, follows: bool = True, mode_machine: int = 5, crc: str = "ok", speed: float = np.inf,
                 **interlocks) -> None:
        self.core = ExecutorCore(ExecutorConfig(soft_start_time=0.1, watchdog=WD,
                                                interlocks=InterlockConfig(**interlocks)))
        self.q = np.zeros(29)
        self.q[ELBOW] = 0.5
        self.follows, self.mode_machine, self.crc, self.speed = follows, mode_machine, crc, speed
        self.remote = encode_remote()
        self.now = 100.0
        self.fired: list[str] = []

    def sample(self):
        z = np.zeros(29)
        raw = encode_lowstate_cdr(self.q, z, z, np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3), tick=1,
                                  mode_machine=self.mode_machine, wireless_remote=self.remote,
                                  with_crc=self.crc != "zero")
        if self.crc == "forged":  # a wrong, non-zero crc word (last 4 bytes)
            raw = raw[:-4] + bytes([raw[-4] ^ 0x5A]) + raw[-3:]
        return decode_lowstate_cdr(raw, self.now)

    def step(self, n: int = 1):
        cmd = None
        for _ in range(n):
            self.now += DT
            self.fired += self.core.observe_lowstate(self.sample(), self.now)
            cmd = self.core.tick(self.now)
            if self.follows and cmd.send and cmd.kp.any():
                self.q += np.clip(0.2 * (cmd.q - self.q), -self.speed * DT, self.speed * DT)
        return cmd

    def enable(self) -> Verdict:
        self.step()
        verdict = self.core.enable(self.now)
        if verdict:
            self.step(int(0.1 / DT) + 2)
        return verdict


def test_crc_zero_refused_under_verify_with_the_reason_and_accepted_under_accept_zero():
    rig = Rig(crc="zero", mode_machine=0)
    verdict = rig.enable()
    assert not verdict and "with crc 0" in verdict.reason and "accept_zero" in verdict.reason
    assert rig.core.status()["lowstate"]["lowstate_crc_zero"] >= 1
    rig = Rig(crc="zero", mode_machine=0, lowstate_crc_policy="accept_zero", expected_mode_machine=0)
    assert rig.enable() and rig.core.mode is Mode.RUNNING
    assert rig.core.robot_input.mode_machine == 0 and rig.core.status()["lowstate"]["lowstate_accepted_crc_zero"] > 0


def test_a_forged_crc_damps_a_running_executor_and_says_so():
    rig = Rig(lowstate_crc_policy="accept_zero")
    assert rig.enable() and rig.core.mode is Mode.RUNNING
    rig.crc = "forged"  # accept_zero still drops a wrong non-zero crc
    cmd = rig.step(2)
    assert rig.core.mode is Mode.DAMPING and cmd.is_damping
    assert "wrong CRC" in rig.core.status()["mode_reason"]


@pytest.mark.parametrize("mode_machine, says", [(4, "23-DoF"), (6, "locked waist"), (0, "expected_mode_machine: 0"),
                                                (77, "unknown robot type")])
def test_a_wrong_robot_variant_refuses_enable_with_a_clear_reason(mode_machine, says):
    rig = Rig(mode_machine=mode_machine)
    verdict = rig.enable()
    assert not verdict and rig.core.mode is Mode.DISABLED
    assert "must not drive" in verdict.reason and says in verdict.reason, verdict.reason


def test_a_variant_change_while_running_damps_with_the_variant_reason():
    rig = Rig()
    assert rig.enable()
    rig.mode_machine = 10  # a 23-DoF robot's value
    rig.step(2)
    assert rig.core.mode is Mode.DAMPING and "23-DoF" in rig.core.status()["mode_reason"]


def _teleop_elbow(rig: Rig, target: float) -> None:
    assert rig.core.submit_teleop(["left_elbow_joint"], [target], rig.now)


def test_commands_that_move_nothing_damp_after_the_timeout_with_the_reason():
    rig = Rig(follows=False, no_effect_tolerance=0.1, no_effect_timeout=0.5)
    assert rig.enable() and rig.core.mode is Mode.RUNNING
    _teleop_elbow(rig, 0.8)  # 0.3 rad away: the command walks there, the robot stays
    rig.step(int(0.45 / DT))
    assert rig.core.mode is Mode.RUNNING  # not before the timeout (the first 0.1 rad take ~0.1 s)
    rig.step(int(0.3 / DT))
    assert rig.core.mode is Mode.DAMPING
    reason = rig.core.status()["mode_reason"]
    assert reason.startswith("commands have no effect") and "left_elbow_joint" in reason


def test_a_robot_that_follows_keeps_running_and_off_means_off():
    rig = Rig(follows=True, no_effect_tolerance=0.1, no_effect_timeout=0.5)
    assert rig.enable()
    _teleop_elbow(rig, 0.8)
    rig.step(int(1.5 / DT))
    assert rig.core.mode is Mode.RUNNING and abs(rig.q[ELBOW] - 0.8) < 0.01
    rig = Rig(follows=False, no_effect_timeout=0.0)
    assert rig.enable()
    _teleop_elbow(rig, 0.8)
    rig.step(int(1.5 / DT))
    assert rig.core.mode is Mode.RUNNING


def test_a_slow_robot_still_following_is_not_damped():
    """A simulator starved of CPU follows at a fraction of the commanded speed: progress, not no effect."""
    rig = Rig(speed=0.2, no_effect_tolerance=0.1, no_effect_timeout=0.5)
    assert rig.enable()
    _teleop_elbow(rig, 0.8)
    rig.step(int(1.0 / DT))
    assert abs(rig.core.filter.q[ELBOW] - rig.q[ELBOW]) > 0.1  # it lags by more than the tolerance ...
    rig.step(int(1.0 / DT))
    assert rig.core.mode is Mode.RUNNING and abs(rig.q[ELBOW] - 0.8) < 0.01  # ... for 1.5 s, and gets there


def test_remote_buttons_estop_reset_enable_disable():
    rig = Rig()
    assert rig.enable() and rig.core.mode is Mode.RUNNING
    rig.remote = encode_remote(["B"])
    cmd = rig.step()
    assert rig.core.mode is Mode.ESTOP and cmd.is_damping and rig.fired == ["estop"]
    assert "wireless remote" in rig.core.status()["mode_reason"]
    rig.remote = encode_remote(["B", "R2", "A"])  # e-stop held: nothing else fires
    rig.step(5)
    assert rig.core.mode is Mode.ESTOP and rig.fired == ["estop"]
    for buttons, mode in ((["R2", "Y"], Mode.DISABLED), (["R2", "A"], Mode.SOFT_START), (["R2", "X"], Mode.DAMPING)):
        rig.remote = encode_remote()
        rig.step()
        rig.remote = encode_remote(buttons)
        rig.step()
        assert rig.core.mode is mode, (buttons, rig.core.status())
    rig.remote = encode_remote(["R2", "X"])
    rig.step(300)  # held: fires once, and the disable completes
    assert rig.core.mode is Mode.DISABLED and rig.fired == ["estop", "reset_estop", "enable", "disable"]


def test_remote_enable_obeys_the_authority_and_garbage_presses_nothing():
    rig = Rig(remote_may_enable=False)
    rig.remote = encode_remote(["R2", "A"])
    rig.step(3)
    assert rig.core.mode is Mode.DISABLED and "refused" in rig.core.status()["last_remote"]
    rig.remote = encode_remote(["B"])
    rig.step()
    assert rig.core.mode is Mode.ESTOP  # the e-stop needs no authority
    rig.remote = encode_remote(["R2", "Y"])
    rig.step()
    assert rig.core.mode is Mode.ESTOP
    rig = Rig(remote_bindings=("estop=L1", "enable=F1"))
    rig.remote = bytes(2) + (1 << 9).to_bytes(2, "little") + np.full(5, 7.0, "<f4").tobytes() + bytes(16)  # B, axes 7
    rig.step(3)
    assert rig.core.mode is Mode.DISABLED and rig.core.robot_input.remote.invalid_reports == 3
    rig.remote = encode_remote(["F1"])
    rig.step()
    assert rig.core.mode is Mode.SOFT_START
    rig = Rig(remote_actions=False)
    rig.remote = encode_remote(["R2", "A"])
    rig.step(3)
    assert rig.core.mode is Mode.DISABLED and rig.fired == []


def test_enable_checks_are_asked_for_service_and_remote_enable():
    rig = Rig()
    allowed = {"ok": False}
    rig.core.add_enable_check(lambda now: Verdict(True) if allowed["ok"] else Verdict(False, "no reader on rt/x"))
    verdict = rig.enable()
    assert not verdict and verdict.reason == "enable refused: no reader on rt/x"
    rig.remote = encode_remote(["R2", "A"])
    rig.step()
    assert rig.core.mode is Mode.DISABLED and "no reader on rt/x" in rig.core.last_remote
    allowed["ok"] = True
    assert rig.enable()


def test_continuous_clipping_raises_the_alarm_and_nominal_commands_do_not():
    rig = Rig(clip_alarm_window=0.5, clip_alarm_fraction=0.5)
    assert rig.enable()
    idx = joint_indices(RIGHT_ARM)
    lo, hi = limits_array("position_min", RIGHT_ARM), limits_array("position_max", RIGHT_ARM)
    inside = np.clip(np.zeros(7), lo + 0.2, hi - 0.2)
    beyond = hi + 0.5  # what a +-100 rad normalisation range asks for

    def feed(target, seconds):
        for _ in range(int(seconds / 0.1)):
            chunk = ActionChunk.uniform(RIGHT_ARM, np.tile(target, (10, 1)), stamp=rig.now, period=0.05)
            assert rig.core.submit_chunk(chunk, rig.now), rig.core.last_rejection
            rig.step(50)

    feed(inside, 1.0)
    assert rig.core.status()["alarm"] == ""
    feed(beyond, 1.0)
    status = rig.core.status()
    assert status["alarm"].startswith("safety filter clipping continuously") and "right_shoulder" in status["alarm"]
    assert rig.core.mode is Mode.RUNNING and status["clip_fraction"] >= 0.5 and rig.core.clip_alarm.raised == 1
    assert np.all(rig.q[idx] <= hi - 0.05 + 1e-6)  # the filter still kept the joints inside the limits
    feed(inside, 1.5)
    assert rig.core.status()["alarm"] == ""


def test_interlock_config_errors_name_the_input():
    with pytest.raises(ValueError, match="lowstate_crc_policy must be one of"):
        InterlockConfig(lowstate_crc_policy="maybe")
    with pytest.raises(ValueError, match="not supported"):
        InterlockConfig(robot_variant="g1_23dof")
    with pytest.raises(ValueError, match="unknown action 'jump'"):
        InterlockConfig(remote_bindings=("estop=B", "jump=A"))
    with pytest.raises(ValueError, match="no_effect_tolerance 0.5 must be below max_tracking_error"):
        ExecutorConfig(interlocks=InterlockConfig(no_effect_tolerance=0.5))
    with pytest.raises(ValueError, match=r"clip_alarm_fraction must be in \[0, 1\]"):
        InterlockConfig(clip_alarm_fraction=1.5)


def test_clock_offset_check_modes():
    report = ClockOffsetReport(offset=0.04, uncertainty=0.02, error="", received_at=10.0)
    when_present = ClockOffsetCheck("when_present", tolerance=0.05, max_age=5.0, topic="/t")
    assert when_present.verdict(10.0)  # nothing measured: not a split host
    when_present.update(report)
    verdict = when_present.verdict(11.0)
    assert not verdict and "+40.0 ms" in verdict.reason and "50 ms" in verdict.reason
    when_present.update(ClockOffsetReport(-0.01, 0.002, "", 10.0))
    assert when_present.verdict(11.0)
    required = ClockOffsetCheck("required", tolerance=0.05, max_age=5.0, topic="/t")
    verdict = required.verdict(10.0)
    assert not verdict and "requires a clock-offset measurement on /t" in verdict.reason
    required.update(ClockOffsetReport(0.0, 0.001, "", 10.0))
    assert required.verdict(14.0) and not required.verdict(16.0)
    required.update(ClockOffsetReport(None, None, "no clock server on /dit4dit/clock/time", 20.0))
    assert "no clock server" in required.verdict(20.5).reason
    assert ClockOffsetCheck("off", 0.05, 5.0).verdict(0.0)
    with pytest.raises(ValueError, match="clock_offset_check must be one of"):
        ClockOffsetCheck("sometimes", 0.05, 5.0)
