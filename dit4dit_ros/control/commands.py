"""CLI of the control area: `dit4dit bench executor` (tick cost, gravity model cost, 500 Hz thread jitter)."""
from __future__ import annotations

import argparse


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=4.0, help="simulated seconds of closed-loop ticks to time")
    p.add_argument("--chunk-rate", type=float, default=6.0, help="policy chunks per second")
    p.add_argument("--horizon", type=int, default=16, help="points per chunk")
    p.add_argument("--thread-seconds", type=float, default=3.0, help="wall seconds of the 500 Hz thread (0: skip)")
    p.add_argument("--cpu-hog", type=int, default=0, metavar="N",
                   help="N busy processes beside the bench for its whole duration (stopped by their PIDs after it)")
    p.add_argument("--realtime", action="store_true",
                   help="run the 500 Hz thread under SCHED_FIFO with locked memory (where the OS permits)")
    p.add_argument("--realtime-priority", type=int, default=80, help="SCHED_FIFO priority with --realtime")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _bench(args: argparse.Namespace) -> int:
    import json

    from dit4dit_ros.g1.gravity import GravityModel
    from dit4dit_ros.utils.cpu_hog import CpuHogs

    if args.cpu_hog < 0:
        raise SystemExit(f"--cpu-hog must be >= 0, got {args.cpu_hog}")
    with CpuHogs(args.cpu_hog):
        results = _measure(args, GravityModel())
    results["cpu_hogs"] = args.cpu_hog
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    _print(results, args)
    return 0


def _measure(args: argparse.Namespace, gravity) -> dict:
    from dit4dit_ros.control.bench import bench_gravity_model, bench_thread, bench_ticks, bench_wire
    from dit4dit_ros.utils.realtime import RealtimeConfig

    results = {}
    for label, ensemble in (("chunks", False), ("chunks+ensemble", True)):
        results[label] = bench_ticks(args.seconds, args.chunk_rate, args.horizon, ensemble)
    results["chunks+gravity"] = bench_ticks(args.seconds, args.chunk_rate, args.horizon, False, gravity=gravity)
    results["gravity_model"] = bench_gravity_model(gravity)
    results["wire"] = bench_wire()
    if args.thread_seconds > 0:
        rt = RealtimeConfig(enabled=True, priority=args.realtime_priority) if args.realtime else None
        results["thread_500hz"] = bench_thread(args.thread_seconds, rt)
    return results


def _print(results: dict, args: argparse.Namespace) -> None:
    print(f"{'case':<18} {'ticks':>6} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'submit p50 us':>14} {'submit max us':>14}")
    for label in ("chunks", "chunks+ensemble", "chunks+gravity"):
        r = results[label]
        print(
            f"{label:<18} {r['ticks']:>6} {r['tick_p50_us']:>8.1f} {r['tick_p99_us']:>8.1f} {r['tick_max_us']:>8.1f}"
            f" {r['submit_p50_us']:>14.1f} {r['submit_max_us']:>14.1f}"
        )
    g = results["gravity_model"]
    print(f"gravity model g(q) (MuJoCo, 29 motors): p50/p99/max {g['p50_us']:.1f}/{g['p99_us']:.1f}/{g['max_us']:.1f} us")
    w = results["wire"]
    print(
        f"per tick in the node besides the core: build LowCmd {w['build_lowcmd_us']:.0f} us + serialize "
        f"{w['serialize_lowcmd_us']:.0f} us; per LowState: deserialize {w['deserialize_lowstate_us']:.0f} us + "
        f"parse {w['parse_lowstate_us']:.0f} us (cyclonedds-python CDR)"
    )
    if "thread_500hz" in results:
        t = results["thread_500hz"]
        print(
            f"500 Hz thread: rate {t['rate_hz']:.1f} Hz, period p50/p99/max {t['period_p50'] * 1e3:.3f}/"
            f"{t['period_p99'] * 1e3:.3f}/{t['period_max'] * 1e3:.3f} ms, wake-up lateness p50/p99/max "
            f"{t['late_p50'] * 1e3:.3f}/{t['late_p99'] * 1e3:.3f}/{t['late_max'] * 1e3:.3f} ms, "
            f"tick work p50/p99 {t['work_p50'] * 1e6:.0f}/{t['work_p99'] * 1e6:.0f} us, overruns {t['overruns']}, "
            f"late by > 1 ms {100 * t['late_share']:.2f} % of ticks"
        )
        granted = (t.get("realtime") or {}).get("scheduler", "normal")
        print(f"500 Hz thread scheduling: {granted}; {results['cpu_hogs']} busy processes beside the bench")


def register(registry) -> None:
    registry.add_bench("executor", "ExecutorCore tick cost and 500 Hz thread jitter", _bench_arguments, _bench)
