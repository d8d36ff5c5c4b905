"""`dit4dit embed-prompts`: run the text encoder once, offline, and store the embeddings next to a checkpoint.

Registered by `dit4dit_ros/model/commands.py` (`prompt_commands.register(registry)`), kept apart so that the
text-encoder code stays in one place. Heavy imports happen inside `_run`.
"""
from __future__ import annotations

import argparse


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoder", required=True,
        help="local directory of a Qwen2.5-VL text encoder + tokenizer (or a Cosmos diffusers directory with"
             " text_encoder/ and tokenizer/), or tiny-random:<seed>",
    )
    parser.add_argument("--instruction", action="append", default=[], help="an instruction (repeatable)")
    parser.add_argument("--instructions-file", help="text file, one instruction per line")
    parser.add_argument("--out", required=True, help="checkpoint directory or .safetensors file (merged if present)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--preset", help="take the prompt length from this model preset (e.g. tiny, small)")
    length.add_argument("--max-length", type=int, default=None, help="tokens per prompt (default 512)")


def _run(args: argparse.Namespace) -> int:
    from dit4dit_ros.model.text_encoder import embed_prompts

    instructions = list(args.instruction)
    if args.instructions_file:
        with open(args.instructions_file, encoding="utf-8") as f:
            instructions += [line.strip() for line in f if line.strip()]
    if not instructions:
        raise SystemExit("embed-prompts: give at least one --instruction or an --instructions-file")
    max_length = args.max_length or 512
    if args.preset:
        from dit4dit_ros.model.dit4dit import load_preset

        max_length = load_preset(args.preset).video.prompt_max_length
    cache = embed_prompts(args.encoder, instructions, args.out, max_length=max_length)
    print(f"encoder {cache.encoder_id}  shape {cache.shape}  -> {cache.resolve_path(args.out)}")
    for text in cache.instructions:
        print(f"  {text}")
    return 0


def register(registry) -> None:
    registry.add_command(
        "embed-prompts", "embed instructions offline with the text encoder into a prompt cache", _add_arguments, _run
    )
