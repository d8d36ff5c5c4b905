"""FastDDS shared-memory segments that outlived their process, found and removed (ROS-free).

Why: every ROS 2 process of the stack maps a 16 MB FastDDS segment (dds_transport.SHM_SEGMENT_BYTES) in
/dev/shm. A process that closes its participant removes it; one that is killed (SIGKILL of a hung node by its
supervisor, a crash, the lifeline's hard exit) leaves it behind, and /dev/shm is memory. On this CI machine 90 of
them (1.5 GB) had piled up over a day of test runs, and a robot computer that restarts hung nodes for weeks would
lose its memory the same way.

How a zombie is told from a live segment: FastDDS keeps a lock file `<segment>_el` beside each segment and holds a
lock on it while the owning process lives (the rule FastDDS's own `fastdds shm clean` uses). A segment whose lock
can be taken is a zombie. A segment younger than `min_age_s` is never touched: between creating its files and
locking them a starting process holds no lock for a moment, and removing its segment then would break it.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SHM_DIR = Path("/dev/shm")
SEGMENT_NAME = re.compile(r"^fastdds_[0-9a-z]{16}$")  # ports (fastdds_portNNNN) are small and reused: left alone
LOCK_SUFFIX = "_el"
DEFAULT_MIN_AGE_S = 10.0


@dataclass(frozen=True)
class Removed:
    segments: int
    bytes: int


def _lock_is_held(lock_file: Path) -> bool:
    """True when some process holds a lock on `lock_file` (then its segment is in use)."""
    try:
        with open(lock_file, "ab") as fd:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file is closed
        return False
    except BlockingIOError:
        return True
    except OSError:  # unreadable or gone: not ours to judge
        return True


def segment_of_process(pid: int, shm_dir: Path = SHM_DIR) -> Path | None:
    """The FastDDS segment process `pid` owns (the one whose lock file it holds open), or None."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, PermissionError):
        return None
    for fd in fds:
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if target.parent == shm_dir and target.name.endswith(LOCK_SUFFIX) \
                and SEGMENT_NAME.match(target.name[: -len(LOCK_SUFFIX)]):
            return target.with_name(target.name[: -len(LOCK_SUFFIX)])
    return None


def zombie_segments(shm_dir: Path = SHM_DIR, min_age_s: float = DEFAULT_MIN_AGE_S) -> list[Path]:
    """FastDDS segments in `shm_dir` whose owner is gone and that are at least `min_age_s` old."""
    if min_age_s < 0:
        raise ValueError(f"min_age_s must be >= 0, got {min_age_s}")
    try:
        names = os.listdir(shm_dir)
    except FileNotFoundError:
        return []
    now = time.time()
    out = []
    for name in sorted(names):
        if not SEGMENT_NAME.match(name):
            continue
        segment, lock = shm_dir / name, shm_dir / (name + LOCK_SUFFIX)
        try:  # the lock file is empty and never written: its time is the segment's creation (the segment's own
            # changes with every write through its mapping)
            created = lock.stat().st_mtime
        except FileNotFoundError:  # no lock file (not a segment FastDDS manages this way) or removed meanwhile
            continue
        if now - created >= min_age_s and not _lock_is_held(lock):
            out.append(segment)
    return out


def remove_zombie_segments(shm_dir: Path = SHM_DIR, min_age_s: float = DEFAULT_MIN_AGE_S) -> Removed:
    """Remove every zombie segment (and its lock file); returns how many and how much memory that freed."""
    count = freed = 0
    for segment in zombie_segments(shm_dir, min_age_s):
        try:
            size = segment.stat().st_size
            segment.unlink()
        except FileNotFoundError:
            continue  # another cleaner was faster
        (shm_dir / (segment.name + LOCK_SUFFIX)).unlink(missing_ok=True)
        count += 1
        freed += size
    if count:
        log.info("removed %d FastDDS shared-memory segment(s) left by processes that died (%.0f MB)", count,
                 freed / 1e6)
    return Removed(count, freed)


__all__ = ["Removed", "remove_zombie_segments", "segment_of_process", "zombie_segments"]
