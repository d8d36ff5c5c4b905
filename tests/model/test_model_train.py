"""Training loop: overfitting one batch, exact resume, world_size=1 DDP over gloo, schedule, logs, CLI."""
from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
import torch

from dit4dit_ros.model.dit4dit import DiT4DiT, load_preset
from dit4dit_ros.model.train import (
    CHECKPOINTS_DIR,
    TRAINER_STATE_FILE,
    SyntheticDataset,
    TrainConfig,
    build_optimizer,
    cosine_with_warmup,
    train,
)


def tiny_model(seed: int = 0) -> DiT4DiT:
    torch.manual_seed(seed)
    return DiT4DiT(load_preset("tiny"))


def quick_tc(out, **kw) -> TrainConfig:
    base = dict(steps=4, batch_size=2, warmup_steps=1, save_every=1000, log_every=1, progress=False)
    base.update(kw)
    return TrainConfig.from_model_defaults(load_preset("tiny"), str(out), **base)


def test_overfits_one_batch(tmp_path):
    """Both losses drop >= 10x on one fixed batch (same noise/time draws every step: a pure regression).

    lr 3e-3: at the tiny preset's 1e-3 the action loss needs more steps (1.41 -> 0.079 in 300 steps; 1.41 -> 0.018 at 3e-3).
    """
    model = tiny_model()
    data = SyntheticDataset(model.cfg, 2, seed=0)
    tc = quick_tc(tmp_path, steps=200, warmup_steps=5, backbone_lr=3e-3, action_lr=3e-3, min_lr=3e-4,
                  log_every=50, fixed_noise_seed=0)
    start = time.perf_counter()
    hist = train(model, data, tc).history
    elapsed = time.perf_counter() - start
    first_v, first_a = hist[0]["loss_video"], hist[0]["loss_action"]
    last_v = np.mean([h["loss_video"] for h in hist[-10:]])
    last_a = np.mean([h["loss_action"] for h in hist[-10:]])
    print(f"overfit: {elapsed:.1f}s video {first_v:.4f}->{last_v:.6f} action {first_a:.4f}->{last_a:.5f}")
    assert last_v < first_v / 10, (first_v, last_v)
    assert last_a < first_a / 10, (first_a, last_a)


def test_schedule_and_param_groups(tmp_path):
    assert cosine_with_warmup(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert cosine_with_warmup(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert cosine_with_warmup(55, 10, 100, 0.1) == pytest.approx(0.55)
    assert cosine_with_warmup(100, 10, 100, 0.1) == pytest.approx(0.1)
    model = tiny_model()
    tc = quick_tc(tmp_path, backbone_lr=1e-5, action_lr=1e-4, min_lr=5e-7, warmup_steps=0, steps=10)
    opt, sched = build_optimizer(model, tc)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"backbone": pytest.approx(1e-5), "action": pytest.approx(1e-4)}
    assert opt.defaults["betas"] == (0.9, 0.95) and opt.defaults["eps"] == 1e-8
    assert opt.defaults["weight_decay"] == 1e-8
    for _ in range(10):
        opt.step()
        sched.step()
    assert {g["name"]: g["lr"] for g in opt.param_groups} == {"backbone": pytest.approx(5e-7),
                                                               "action": pytest.approx(5e-7)}
    n_vae = sum(1 for _ in model.video.vae.parameters())
    in_groups = {id(p) for g in opt.param_groups for p in g["params"]}
    assert n_vae > 0 and not any(id(p) in in_groups for p in model.video.vae.parameters())


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_continues_exactly(tmp_path):
    data = SyntheticDataset(load_preset("tiny"), 4, seed=1)
    full = tiny_model()
    r = train(full, data, quick_tc(tmp_path / "a", steps=4, save_every=2))
    ckpts = sorted((tmp_path / "a" / CHECKPOINTS_DIR).iterdir())
    assert [p.name for p in ckpts] == ["step_0000002", "step_0000004"]
    assert (ckpts[0] / TRAINER_STATE_FILE).is_file() and r.step == 4
    resumed = tiny_model(seed=123)  # different init: everything must come from the checkpoint
    r2 = train(resumed, data, quick_tc(tmp_path / "b", steps=4, save_every=100, resume=str(ckpts[0])))
    assert r2.step == 4 and len(r2.history) == 2
    assert [h["loss_total"] for h in r2.history] == pytest.approx([h["loss_total"] for h in r.history[2:]], rel=1e-5)
    a, b = _weights(full), _weights(resumed)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # logs: CSV + JSONL, one row per logged step
    rows = [json.loads(line) for line in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert (tmp_path / "a" / "train_log.csv").read_text().splitlines()[0].startswith("step,loss_total")


class _RunsCode:
    """What an attacker puts into a pickle: unpickling it calls os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def test_trainer_state_loads_without_running_pickle_code(tmp_path):
    import random

    from dit4dit_ros.model.trainer_state import load_trainer_state, rng_state, set_rng_state

    data = SyntheticDataset(load_preset("tiny"), 4, seed=1)
    train(tiny_model(), data, quick_tc(tmp_path / "a", steps=2, save_every=2))
    ckpt = tmp_path / "a" / CHECKPOINTS_DIR / "step_0000002"
    state = load_trainer_state(ckpt / TRAINER_STATE_FILE)  # weights_only: plain data and tensors
    assert state["step"] == 2 and isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)
    # the RNG states survive the tensor encoding exactly
    snapshot = rng_state()
    expected = (np.random.random(3).tolist(), random.random(), torch.rand(2).tolist())
    set_rng_state(snapshot)
    assert (np.random.random(3).tolist(), random.random(), torch.rand(2).tolist()) == expected

    marker = tmp_path / "pwned"
    crafted = dict(state, rng=_RunsCode(f"touch {marker}"))
    torch.save(crafted, ckpt / TRAINER_STATE_FILE)
    with pytest.raises(ValueError, match="trainer_state.pt: refused: it holds Python objects"):
        train(tiny_model(), data, quick_tc(tmp_path / "b", steps=4, resume=str(ckpt)))
    assert not marker.exists()
    # files of the older format (numpy's RNG tuple with an ndarray inside) still resume
    legacy = dict(state, rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                              "python": random.getstate()})
    torch.save(legacy, ckpt / TRAINER_STATE_FILE)
    assert train(tiny_model(), data, quick_tc(tmp_path / "c", steps=3, resume=str(ckpt))).step == 3
    (ckpt / TRAINER_STATE_FILE).write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable trainer state"):
        load_trainer_state(ckpt / TRAINER_STATE_FILE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_world_size_one_over_gloo(tmp_path, monkeypatch):
    """The torchrun path (env init, DDP wrapper, DistributedSampler) gives the same losses as a plain run."""
    import torch.distributed as dist

    data = SyntheticDataset(load_preset("tiny"), 2, seed=2)
    plain = train(tiny_model(), data, quick_tc(tmp_path / "plain", steps=3)).history
    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(k, v)
    seen = {}
    orig = dist.init_process_group

    def spy(*args, **kwargs):
        orig(*args, **kwargs)
        seen["backend"] = dist.get_backend()

    monkeypatch.setattr(dist, "init_process_group", spy)
    ddp = train(tiny_model(), data, quick_tc(tmp_path / "ddp", steps=3)).history
    assert seen == {"backend": "gloo"} and not dist.is_initialized()
    assert [h["loss_total"] for h in ddp] == pytest.approx([h["loss_total"] for h in plain], rel=1e-5)


def test_repeated_diffusion_steps_and_bad_config(tmp_path):
    model = tiny_model()
    r = train(model, SyntheticDataset(model.cfg, 2),
              quick_tc(tmp_path, steps=1, repeated_diffusion_steps=3, gradient_checkpointing=True))
    assert model.action.cfg.repeated_diffusion_steps == 3 and model.action.model.gradient_checkpointing
    assert np.isfinite(r.history[0]["loss_total"])
    with pytest.raises(ValueError, match="precision"):
        quick_tc(tmp_path, precision="fp8")
    with pytest.raises(TypeError, match="TrainDataset"):
        train(model, [1, 2, 3].__iter__(), quick_tc(tmp_path))


def test_train_cli_synthetic(tmp_path, capsys):
    from dit4dit_ros.cli import main
    from dit4dit_ros.model.checkpoint import load_checkpoint

    out = tmp_path / "run"
    rc = main(["train", "--preset", "tiny", "--synthetic", "2", "--steps", "2", "--batch-size", "2",
               "--out", str(out), "--lr", "1e-3", "--no-progress", "--save-every", "2"])
    assert rc == 0 and "step 2:" in capsys.readouterr().out
    model, cfg, stats, _ = load_checkpoint(out / CHECKPOINTS_DIR / "step_0000002")
    assert cfg.name == "tiny"
    rc = main(["train", "--preset", "tiny", "--synthetic", "2", "--steps", "3", "--batch-size", "2",
               "--out", str(out), "--resume", "auto", "--no-progress", "--save-every", "100"])
    assert rc == 0 and (out / CHECKPOINTS_DIR / "step_0000003").is_dir()
