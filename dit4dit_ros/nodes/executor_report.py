"""The executor node's reports: /dit4dit/executor/state and /diagnostics (both diagnostic_msgs), from the real-time process's
status block plus what only the node knows (control path, clock, the process's health)."""
from __future__ import annotations

import collections

from dit4dit_ros.control import Mode
from dit4dit_ros.nodes import diagnostics as diag

RT_DEAD = "RT_DEAD"  # the mode reported when the real-time process is gone (the robot damps by itself)


class RateFromCounter:
    """Rate [1/s] of a monotonically increasing counter, over the last `window_s` seconds of samples."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def update(self, now: float, count: int) -> float:
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


def diagnostics_values(state: dict) -> tuple[int, str, dict]:
    """(level, message, key values) of an executor state dict."""
    mode = state.get("mode", RT_DEAD)
    tick = state.get("tick", {})
    if mode in (Mode.ESTOP.value, Mode.DAMPING.value, RT_DEAD):
        level, message = diag.ERROR, f"{mode}: {state.get('mode_reason', '')}"
    elif state.get("alarm"):
        level, message = diag.ERROR, f"{mode}: {state['alarm']}"
    elif mode == Mode.HOLD.value:
        level, message = diag.WARN, f"{mode}: {state.get('mode_reason', '')}"
    elif tick.get("overruns"):
        level, message = diag.WARN, "control ticks overran"
    else:
        level, message = diag.OK, mode
    ms = lambda key: 1e3 * tick[key] if key in tick else -1.0  # noqa: E731
    values = {
        "mode": mode,
        "reason": state.get("mode_reason", ""),
        "last_rejection": state.get("last_rejection", ""),
        "command_rate_hz": state.get("command_rate_hz", 0.0),
        "lowstate_rate_hz": state.get("lowstate_rate_hz", 0.0),
        "tick_late_p99_ms": ms("late_p99"),
        "tick_work_p99_ms": ms("work_p99"),
        "tick_late_share": tick.get("late_share", 0.0),
        "overruns": tick.get("overruns", 0),
        "realtime": (state.get("realtime") or {}).get("scheduler", "normal"),
        "alarm": state.get("alarm", ""),
        "clip_fraction": state.get("clip_fraction", 0.0),
        "authority": state.get("authority", ""),
        "last_remote": state.get("last_remote", ""),
        **{k: v for k, v in (state.get("lowstate") or {}).items() if isinstance(v, int)},
        **{f"count.{k}": v for k, v in state.get("counts", {}).items()},
        **{f"limit.{k}": v for k, v in state.get("limit_hits", {}).items()},
        **{f"chunk_delivery.{k}": v for k, v in state.get("chunk_delivery", {}).items()},
    }
    return level, message, values


__all__ = ["RateFromCounter", "diagnostics_values", "RT_DEAD"]
