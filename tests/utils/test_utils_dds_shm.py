"""FastDDS segments left in /dev/shm by killed processes: a real ROS 2 process's segment is live while it runs and
a zombie once it is SIGKILLed; removal takes only zombies old enough, with their lock files."""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dit4dit_ros.utils.dds_shm import remove_zombie_segments, segment_of_process, zombie_segments
from dit4dit_ros.utils.waiting import wait_until

NODE = """
import time, rclpy
from dit4dit_ros.utils.dds_transport import configure_ros_transport
configure_ros_transport()
rclpy.init()
node = rclpy.create_node("shm_probe")
print("up", flush=True)
for _ in range(600):
    time.sleep(0.1)
"""


def test_a_killed_ros_process_leaves_a_zombie_segment_a_live_one_does_not():
    proc = subprocess.Popen([sys.executable, "-c", NODE], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        segment = wait_until(lambda: segment_of_process(proc.pid), 10.0, what="the node's FastDDS segment")
        assert segment.exists() and segment not in zombie_segments(min_age_s=0.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10.0)
        assert segment.exists()  # nobody removed it: the leak
        assert segment in zombie_segments(min_age_s=0.0)
        assert segment not in zombie_segments(min_age_s=3600.0)  # younger than that: left alone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10.0)
        proc.stdout.close()
    segment.unlink(missing_ok=True)  # only this test's own zombie (the others are removed at the session's end)
    Path(str(segment) + "_el").unlink(missing_ok=True)


def test_removal_takes_old_unlocked_segments_with_their_lock_files(tmp_path):
    def make(name: str, age: float) -> Path:
        seg, lock = tmp_path / name, tmp_path / (name + "_el")
        seg.write_bytes(b"\0" * 1000)
        lock.touch()
        old = time.time() - age
        for f in (seg, lock):
            os.utime(f, (old, old))
        return seg

    dead = make("fastdds_0123456789abcdef", 60.0)
    young = make("fastdds_fedcba9876543210", 1.0)
    live = make("fastdds_00000000000000aa", 60.0)
    port = tmp_path / "fastdds_port7000"
    port.write_bytes(b"\0" * 10)
    holder = open(tmp_path / "fastdds_00000000000000aa_el", "ab")  # noqa: SIM115 - held for the test
    fcntl.flock(holder, fcntl.LOCK_EX)  # like FastDDS while its process lives (another open file description)
    try:
        assert zombie_segments(tmp_path, min_age_s=10.0) == [dead]
        removed = remove_zombie_segments(tmp_path, min_age_s=10.0)
        assert (removed.segments, removed.bytes) == (1, 1000)
        assert not dead.exists() and not (tmp_path / "fastdds_0123456789abcdef_el").exists()
        assert young.exists() and live.exists() and port.exists()
    finally:
        holder.close()
    assert zombie_segments(tmp_path, min_age_s=10.0) == [live]  # its holder is gone now
    with pytest.raises(ValueError, match="min_age_s must be >= 0"):
        zombie_segments(tmp_path, min_age_s=-1.0)
    assert zombie_segments(tmp_path / "missing") == []
