"""Printed views of a recorder output directory: salvage interrupted episodes, list the episodes.

`dit4dit record --recover DIR` and `--list DIR` print these; they read the episode store only (no ROS), so
they live with the store rather than with the command that also starts the recorder node.
"""
from __future__ import annotations

import sys

from dit4dit_ros.data.episode_store import EpisodeStore


def recover_episodes(directory: str) -> int:
    """Salvage the interrupted episodes under DIRECTORY/.partial; exit status 0 only when all were recovered."""
    from dit4dit_ros.data.recovery import recover_partials

    store = EpisodeStore(directory)
    if not store.root.is_dir():
        print(f"error: {directory} is not a directory", file=sys.stderr)
        return 2
    results = recover_partials(store)
    if not results:
        print(f"nothing to recover under {store.partial_root}")
        return 0
    for r in results:
        state = "recovered" if r.recovered else "NOT recoverable"
        print(f"episode {r.index:6d}: {state:16s} -> {r.path}  {r.message_counts}  ({r.reason})")
    return 0 if all(r.recovered for r in results) else 1


def list_episodes(directory: str) -> int:
    """One line per episode (status, success, duration, messages, instruction), then the unfinished ones."""
    store = EpisodeStore(directory)
    print(f"{'episode':>7s} {'status':10s} {'success':8s} {'dur_s':>6s} {'messages':>9s}  instruction")
    for e in store.episodes():
        info = e.info
        success = {None: "-", True: "yes", False: "no"}[info.success]
        print(f"{e.index:7d} {info.status:10s} {success:8s} {info.duration_s:6.1f} "
              f"{sum(info.message_counts.values()):9d}  {info.instruction}")
    for p in store.partials():
        print(f"{'':7s} {'partial':10s} {p}  (dit4dit record --recover {directory})")
    return 0
