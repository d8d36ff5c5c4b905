"""Where two evaluations of the same seeds part (`python -m dit4dit_ros.evaluation.compare A.json B.json`).

A command-stepped graph evaluation is meant to repeat itself exactly, idle or loaded (docs/realtime.md). When an
episode's distance trace differs between two runs, the first chunk whose trace differs tells why: another frame
time (counted from the episode's first chunk), a joint state paired from another instant, other inputs (images,
joints, instruction), or the same inputs and another chunk (the engine). This reads the JSON files `dit4dit eval --json` writes.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _offsets(trace: list[dict]) -> list[float]:
    """Each chunk's frame time after the episode's first chunk. An episode starts at a simulation time that depends on
    when the evaluator's reset lands (wall time, so load): the same episode has other absolute frame times in
    another run."""
    return [round(c.get("chunk_stamp", 0.0) - trace[0].get("chunk_stamp", 0.0), 6) for c in trace]


def _which_inputs(x: dict, y: dict) -> str:
    """Which of a chunk's inputs differ, from the per-input digests (traces written before they existed have none)."""
    if not (x.get("image_digest") and y.get("image_digest")):
        return "images or joint positions"
    which = [name for name, key in (("images", "image_digest"), ("joint positions", "joints_digest"))
             if x.get(key) != y.get(key)]
    return " and ".join(which) or "the instruction"


def first_difference(a: list[dict], b: list[dict]) -> str:
    """The first chunk at which two chunk traces differ, in words ("" when they agree). Frame times are compared
    from each episode's first chunk on (`_offsets`); the frame named in brackets is the first run's, in simulation
    time, to find it in that run's logs."""
    offsets_a, offsets_b = _offsets(a), _offsets(b)
    for k, (x, y) in enumerate(zip(a, b)):
        if offsets_a[k] != offsets_b[k]:
            return (f"chunk {k}: frame {offsets_a[k]} s vs {offsets_b[k]} s after the episode's first chunk "
                    f"(frame {x.get('chunk_stamp')} s)")
        if x.get("state_skew_ms") != y.get("state_skew_ms"):
            return (f"chunk {k} (frame {x['chunk_stamp']} s): joint state paired {x.get('state_skew_ms')} ms vs "
                    f"{y.get('state_skew_ms')} ms from the frame")
        if x.get("input_digest") != y.get("input_digest"):
            return f"chunk {k} (frame {x['chunk_stamp']} s): other inputs ({_which_inputs(x, y)})"
        if x.get("output_digest") != y.get("output_digest"):
            return f"chunk {k} (frame {x['chunk_stamp']} s): same inputs, another output (the engine)"
    if len(a) != len(b):
        return f"chunk {min(len(a), len(b))}: one run has {len(a)} chunks, the other {len(b)}"
    return ""


def compare_runs(a: dict, b: dict) -> dict[int, str]:
    """Seed -> what differs, for each seed whose episode differs between two `dit4dit eval --json` results (success,
    distance trace or chunk trace, with the first chunk at which it parts) or that only one run has."""
    out: dict[int, str] = {}
    episodes_b = {e["seed"]: e for e in b["per_episode"]}
    for ea in a["per_episode"]:
        eb = episodes_b.get(ea["seed"])
        if eb is None:
            out[ea["seed"]] = "only in the first run"
            continue
        where = first_difference(ea.get("chunk_trace", []), eb.get("chunk_trace", []))
        if (ea["success"], ea["distance_trace"]) == (eb["success"], eb["distance_trace"]) and not where:
            continue
        parted = next((pa[0] for pa, pb in zip(ea["distance_trace"], eb["distance_trace"]) if pa != pb), None)
        out[ea["seed"]] = (f"success {ea['success']} vs {eb['success']}; distance traces part at {parted} s; "
                           f"{where or 'chunk traces agree (or were not recorded)'}")
    for seed in episodes_b.keys() - {e["seed"] for e in a["per_episode"]}:
        out[seed] = "only in the second run"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    runs = []
    for path in (args.first, args.second):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            parser.error(f"{path}: not a readable `dit4dit eval --json` result ({exc})")
        if not isinstance(data, dict) or not isinstance(data.get("per_episode"), list):
            parser.error(f"{path}: not a `dit4dit eval --json` result (expected an object with a per_episode list)")
        runs.append(data)
    differences = compare_runs(*runs)
    n = len(runs[0]["per_episode"])
    print(f"{n - len(differences)} of {n} episodes identical")
    for seed, text in sorted(differences.items()):
        print(f"seed {seed}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
