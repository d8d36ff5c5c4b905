"""Run the policy engine on the newest observation at a fixed rate, off the ROS executor.

Inference takes tens to hundreds of milliseconds; running it inside a ROS callback would stall every other
callback of the node (image and state subscriptions, parameter services). The runner owns one worker
thread: each cycle it takes the newest complete observation, runs the engine, and hands the chunk to a
publish callback. It never queues work: a slow model lowers the chunk rate, it does not build a backlog.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from dit4dit_ros.policy.observation import ObservationBuffer, ObservationUnavailable

log = logging.getLogger(__name__)


class Engine(Protocol):  # the subset of engine.base.PolicyEngine the runner uses
    instructions: tuple[str, ...]

    def check_instruction(self, instruction: str) -> str: ...

    def predict(self, frames, joint_positions, instruction, noise=None): ...

    def draw_noise(self, seed=None): ...



def _observation_hash(prefix: bytes, frames, joint_positions, instruction: str) -> bytes:
    """sha256 of `prefix`, the images, the joint positions rounded to 1e-6 rad and the instruction."""
    h = hashlib.sha256(prefix)
    for frame in frames:
        h.update(np.ascontiguousarray(frame).tobytes())
    h.update(np.round(np.asarray(joint_positions, dtype=np.float64) * 1e6).astype(np.int64).tobytes())
    h.update(instruction.encode())
    return h.digest()


def observation_seed(seed: int, frames, joint_positions, instruction: str) -> int:
    """A noise seed that is a function of `seed` and the observation alone (sha256 of the images, the joint
    positions rounded to 1e-6 rad and the instruction). Why: the same observation then gives the same chunk however
    long inference took or how many chunks came before, so a command-stepped simulation repeats episode for
    episode, idle or loaded; on a robot two observations are never equal and the noise stays as random as a
    generator's. The rounding keeps a last-bit difference (simulation time is a float: 17.602 - 17.6 is not
    0.402 - 0.4) from drawing entirely different noise."""
    digest = _observation_hash(int(seed).to_bytes(8, "little", signed=True), frames, joint_positions, instruction)
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def fingerprint(data: bytes) -> str:
    """12 hex digits of sha256: enough to tell two runs' inputs or chunks apart in a trace."""
    return _short(hashlib.sha256(data).digest())


def _short(digest: bytes) -> str:
    return digest.hex()[:12]


@dataclass(frozen=True)
class ChunkTrace:
    """What one chunk was computed from and what came out, in a form two runs can be compared by.

    Why: a command-stepped evaluation should repeat itself exactly, idle or loaded. When two runs part, the first
    chunk whose trace differs says where: a different frame time, a joint state paired from another instant
    (`state_skew_ms`), different inputs (`input_digest`: images, joints, instruction), or the same inputs and a
    different output (`output_digest`: the engine itself)."""

    stamp: float  # the frame's time
    state_skew_ms: float  # joint state's time - frame's time
    input_digest: str  # all inputs: images, joint positions (rounded to 1e-6 rad), instruction
    output_digest: str
    image_digest: str = ""  # the images alone, and the rounded joint positions alone: which input differed
    joints_digest: str = ""

    def as_dict(self) -> dict:
        return {"chunk_stamp": round(self.stamp, 6), "state_skew_ms": round(self.state_skew_ms, 3),
                "input_digest": self.input_digest, "output_digest": self.output_digest,
                "image_digest": self.image_digest, "joints_digest": self.joints_digest}

    @classmethod
    def from_text(cls, text: "dict[str, str]") -> ChunkTrace | None:
        """The trace in a status's key/value text (as_dict's keys), or None when the status carries none."""
        if "chunk_stamp" not in text:
            return None
        return cls(float(text["chunk_stamp"]), float(text["state_skew_ms"]), text["input_digest"],
                   text["output_digest"], text.get("image_digest", ""), text.get("joints_digest", ""))

@dataclass(frozen=True)
class ChunkResult:
    """One action chunk tied to the observation it was computed from."""

    observation_stamp: float  # ROS-clock seconds of the frame the chunk was computed from
    joint_names: tuple[str, ...]
    positions: np.ndarray  # (H, J) radians
    control_period: float  # seconds between chunk points
    inference_seconds: float
    timings: dict = field(default_factory=dict)


@dataclass
class RunnerStats:
    chunks: int = 0
    skipped: int = 0
    errors: int = 0
    last_skip_reason: str = ""  # reason of the newest cycle if it produced no chunk, else empty
    last_inference_seconds: float = float("nan")
    waiting_for_frame: int = 0  # cycles that found no frame newer than the last chunk's
    last_chunk: ChunkTrace | None = None


class PolicyRunner:
    def __init__(
        self,
        engine: Engine,
        buffer: ObservationBuffer,
        now: Callable[[], float],
        publish: Callable[[ChunkResult], None],
        action_joint_names: "list[str] | tuple[str, ...]",
        control_period: float,
        rate_hz: float = 6.0,
        on_skip: Callable[[str], None] | None = None,
        noise_seed: int | None = None,
    ) -> None:
        if rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0 (0 = as fast as possible), got {rate_hz}")
        if control_period <= 0:
            raise ValueError(f"control_period must be positive, got {control_period}")
        self.engine = engine
        self.buffer = buffer
        self.now = now
        self.publish = publish
        self.action_joint_names = tuple(action_joint_names)
        self.control_period = control_period
        self.period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.on_skip = on_skip or (lambda reason: None)
        self.noise_seed = noise_seed  # None: the engine's generator; else noise from the observation (observation_seed)
        self.stats = RunnerStats()
        self._instruction: str | None = None
        self._last_stamp: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def instruction(self) -> str | None:
        return self._instruction

    def set_instruction(self, instruction: str) -> None:
        """Switch the goal; an unknown instruction raises (listing the known ones) and keeps the current one."""
        self._instruction = self.engine.check_instruction(instruction)

    def step(self) -> ChunkResult | None:
        """One inference cycle; returns the chunk, or None with the reason reported through on_skip."""
        if self._instruction is None:
            self._skip("no instruction received yet (publish one on /dit4dit/instruction)")
            return None
        try:
            obs = self.buffer.latest(self.now())
        except ObservationUnavailable as exc:
            self._skip(str(exc))
            return None
        if obs.stamp == self._last_stamp:
            # Same frame as the previous chunk (e.g. a lock-stepped simulator waiting for this very chunk, or a
            # camera slower than the policy): recomputing would only repeat the chunk. Wait for a new frame.
            self.stats.waiting_for_frame += 1
            return None
        t0 = time.perf_counter()
        noise = None
        if self.noise_seed is not None:
            noise = self.engine.draw_noise(observation_seed(self.noise_seed, obs.frames, obs.joint_positions,
                                                            self._instruction))
        out = self.engine.predict(list(obs.frames), obs.joint_positions, self._instruction, noise=noise)
        elapsed = time.perf_counter() - t0
        positions = np.asarray(out.actions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != len(self.action_joint_names):
            raise RuntimeError(f"engine returned actions of shape {positions.shape}, expected (H, {len(self.action_joint_names)})")
        result = ChunkResult(obs.stamp, self.action_joint_names, positions, self.control_period, elapsed, dict(out.timings))
        self._last_stamp = obs.stamp
        self.stats.last_chunk = ChunkTrace(
            obs.stamp, 1e3 * (obs.state_stamp - obs.stamp),
            _short(_observation_hash(b"", obs.frames, obs.joint_positions, self._instruction)),
            fingerprint(np.ascontiguousarray(positions).tobytes()),
            _short(_observation_hash(b"", obs.frames, [], "")),
            _short(_observation_hash(b"", [], obs.joint_positions, "")))
        self.stats.chunks += 1
        self.stats.last_skip_reason = ""  # the newest cycle succeeded: inputs are fine now
        self.stats.last_inference_seconds = elapsed
        self.publish(result)
        return result

    def _skip(self, reason: str) -> None:
        self.stats.skipped += 1
        self.stats.last_skip_reason = reason
        self.on_skip(reason)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("PolicyRunner already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="policy-inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        next_time = time.monotonic()
        while not self._stop.is_set():
            try:
                result = self.step()
            except Exception:  # an engine failure must not kill the node silently; it is counted and logged
                self.stats.errors += 1
                log.exception("policy inference failed")
                result = None
            if result is None:
                # Nothing to do yet: poll again soon, bounded by the stop event.
                self._stop.wait(min(0.05, self.period) if self.period else 0.02)
                continue
            next_time = max(next_time + self.period, time.monotonic()) if self.period else time.monotonic()
            self._stop.wait(max(0.0, next_time - time.monotonic()))
