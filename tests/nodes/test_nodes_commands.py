"""The nodes area's bench commands are registered and run (tiny sizes; figures are not asserted)."""
from __future__ import annotations

from dit4dit_ros.cli import build_parser, build_registry


def test_benches_registered_and_conversion_bench_runs(capsys):
    registry = build_registry()
    assert {"image-conversion", "camera", "g1-state"} <= set(registry.benches)
    args = build_parser(registry).parse_args(
        ["bench", "image-conversion", "--size", "64x48", "--iterations", "2", "--encodings", "rgb8,32FC1"])
    assert args._run(args) == 0
    out = capsys.readouterr().out
    assert "64x48" in out and "rgb8" in out and "32FC1" in out
