"""CLI of the security area: `dit4dit security keystore | policy`."""
from __future__ import annotations

import argparse
from pathlib import Path


def _arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="security_command", required=True, metavar="ACTION")
    ks = sub.add_parser("keystore", help="write an SROS2 keystore: CA, governance, one enclave per node, signed permissions")
    ks.add_argument("--out", type=Path, required=True, help="new keystore directory (ROS_SECURITY_KEYSTORE)")
    ks.add_argument("--domain", type=int, default=None, help="restrict governance and permissions to this ROS domain")
    sub.add_parser("policy", help="print who may publish, subscribe, serve and call what")


def _run(args: argparse.Namespace) -> int:
    from dit4dit_ros.security.policy import GRAPH_POLICY

    if args.security_command == "policy":
        for p in GRAPH_POLICY:
            print(f"{p.enclave}:\n  publish   {', '.join(p.all_publish())}\n  subscribe {', '.join(p.all_subscribe())}\n"
                  f"  serve     {', '.join(p.serve) or '-'} (+ its parameter services)\n  call      {', '.join(p.all_call())}")
        return 0
    from dit4dit_ros.security.keystore import create_keystore

    enclaves = create_keystore(args.out, domain_id=args.domain)
    print(f"keystore {args.out}: {len(enclaves)} enclaves ({', '.join(d.name for d in enclaves)}); keep "
          f"{args.out / 'private'} off the robot.\nRun with ROS_SECURITY_KEYSTORE={args.out.resolve()} "
          "ROS_SECURITY_ENABLE=true ROS_SECURITY_STRATEGY=Enforce (needs a FastDDS built with security: see "
          "docs/security.md)")
    return 0


def register(registry) -> None:
    registry.add_command("security", "SROS2: generate the graph's keystore and access-control policy", _arguments, _run)
