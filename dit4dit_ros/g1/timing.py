"""The G1's low-level control rate, written once.

The robot's motor controller reads rt/lowcmd and publishes rt/lowstate every 2 ms; the executor ticks at that
rate, the MuJoCo G1 steps its physics at it (one PD update per step, like the motors), and LowState streams
default to it. Every other figure (sim timestep, state rates, executor tick) derives from these two names.
"""
from __future__ import annotations

CONTROL_RATE_HZ = 500.0
CONTROL_PERIOD = 1.0 / CONTROL_RATE_HZ  # s (0.002)
