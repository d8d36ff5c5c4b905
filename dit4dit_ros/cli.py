"""The `dit4dit` command.

Subcommands are contributed by the subpackages: each `dit4dit_ros/<area>/commands.py` defines
`register(registry: CommandRegistry)`. This keeps each capability's CLI next to its code and `cli.py` free of
per-feature edits. Command modules must import heavy dependencies (torch, rclpy, mujoco) inside their run
functions so that `dit4dit --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

# Areas whose `commands` module is loaded, in help order.
COMMAND_AREAS: tuple[str, ...] = ("model", "engine", "g1", "sim", "control", "data", "nodes", "bringup", "demo", "evaluation",
                                   "security")

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: AddArguments
    run: Run


class CommandRegistry:
    """Collects top-level commands and `dit4dit bench <target>` targets from every area."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.benches: dict[str, Command] = {}

    def add_command(self, name: str, help: str, add_arguments: AddArguments, run: Run) -> None:
        if name in self.commands or name == "bench":
            raise ValueError(f"dit4dit command {name!r} registered twice")
        self.commands[name] = Command(name, help, add_arguments, run)

    def add_bench(self, name: str, help: str, add_arguments: AddArguments, run: Run) -> None:
        if name in self.benches:
            raise ValueError(f"dit4dit bench target {name!r} registered twice")
        self.benches[name] = Command(name, help, add_arguments, run)


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _info(args: argparse.Namespace) -> int:
    """Versions of the stack's components and what this machine can run (GPU, TensorRT, rendering)."""
    from dit4dit_ros.info import collect_info, format_info

    info = collect_info()
    print(format_info(info, as_json=args.json))
    return 0


def build_registry() -> CommandRegistry:
    registry = CommandRegistry()
    registry.add_command("info", "show versions and available backends", _info_arguments, _info)
    for area in COMMAND_AREAS:
        module_name = f"dit4dit_ros.{area}.commands"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name in (module_name, f"dit4dit_ros.{area}"):
                continue  # this area contributes no commands
            raise
        module.register(registry)
    return registry


def build_parser(registry: CommandRegistry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dit4dit", description="DiT4DiT on the Unitree G1 with ROS 2")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in registry.commands.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    bench = sub.add_parser("bench", help="benchmarks that print speed and memory figures")
    bench_sub = bench.add_subparsers(dest="bench_target", required=True, metavar="TARGET")
    for target in registry.benches.values():
        p = bench_sub.add_parser(target.name, help=target.help, description=target.help)
        target.add_arguments(p)
        p.set_defaults(_run=target.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    registry = build_registry()
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from dit4dit_ros.utils.dds_transport import configure_ros_transport

    configure_ros_transport()  # every command and bench: the stack's DDS transport, not the shell's
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
