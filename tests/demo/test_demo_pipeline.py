"""The sim demo pipeline: collect-sim -> a valid LeRobot dataset the training reader reads back, training stages,
shipping a checkpoint (evaluation: tests/evaluation/)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "g1_reach_small"
INSTRUCTION = "touch the red cube with the right hand"


# ---- collect-sim -> dataset -> training reader --------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from dit4dit_ros.cli import main

    out = tmp_path_factory.mktemp("demo") / "reach2"
    assert main(["collect-sim", "--task", "reach", "--episodes", "2", "--out", str(out), "--seed", "3"]) == 0
    return out


def test_collect_sim_writes_a_valid_dataset(dataset):
    import json

    from dit4dit_ros.data.lerobot_validate import validate_dataset

    assert validate_dataset(dataset) == []
    info = json.loads((dataset / "meta" / "info.json").read_text())
    assert info["fps"] == 10 and info["total_episodes"] == 2
    assert info["features"]["observation.images.ego_view"]["shape"] == [64, 64, 3]
    tasks = (dataset / "meta" / "tasks.jsonl").read_text()
    assert INSTRUCTION in tasks


def test_training_reader_reads_collected_demos(dataset):
    import torch

    from dit4dit_ros.demo.train import DemoTrainDataset, build_prompt_cache, demo_model_config

    cfg = demo_model_config(dataset, "small")
    assert cfg.layout.control_period == pytest.approx(0.1)
    cache = build_prompt_cache([INSTRUCTION], "tiny-random:0", cfg.video.prompt_max_length)
    ds = DemoTrainDataset(dataset, cfg, cache)
    assert len(ds) == 70  # 2 episodes x 3.5 s at 10 fps
    item = ds[10]
    assert set(item) == {"video", "state", "action", "action_mask", "prompt_embeds"}
    assert item["video"].shape == (cfg.video.num_frames, 3, 64, 64)
    assert 0.0 <= float(item["video"].min()) and float(item["video"].max()) <= 1.0
    assert item["action"].shape == (16, 32) and torch.all(item["action"].abs() <= 1.0 + 1e-6)
    assert item["action_mask"][:, :14].all() and not item["action_mask"][:, 14:].any()
    # Demonstrations move the right arm (the action changes over the episode) and keep the left one still.
    actions = ds.reader.action
    assert np.ptp(actions[:, 7:], axis=0).max() > 0.3
    assert np.ptp(actions[:, :7], axis=0).max() < 0.05
    # The recorded action at frame k is close to the measured state a few frames later (the arm follows).
    lag = 3
    err = np.abs(actions[:-lag, 7:] - ds.reader.state[lag:, 7:]).mean()
    assert err < 0.1


def test_state_noise_perturbs_only_the_encoded_state(dataset):
    import torch

    from dit4dit_ros.demo.train import DemoTrainDataset, build_prompt_cache, demo_model_config

    cfg = demo_model_config(dataset, "small")
    cache = build_prompt_cache([INSTRUCTION], "tiny-random:0", cfg.video.prompt_max_length)
    clean = DemoTrainDataset(dataset, cfg, cache)[10]
    noisy_ds = DemoTrainDataset(dataset, cfg, cache, state_noise=0.1)
    torch.manual_seed(0)
    noisy = noisy_ds[10]
    width = cfg.layout.encoded_state_width
    diff = (noisy["state"] - clean["state"]).flatten()
    assert 0.05 < float(diff[:width].std()) < 0.2  # noise of the requested std on the 28 sin/cos values
    assert torch.all(diff[width:] == 0)  # padding untouched
    for key in ("video", "action", "action_mask"):
        assert torch.equal(noisy[key], clean[key])
    with pytest.raises(ValueError, match="state_noise"):
        DemoTrainDataset(dataset, cfg, cache, state_noise=-0.1)


def test_latent_calibration_normalises_the_random_vae_and_survives_resume(dataset, tmp_path):
    import json

    import torch

    from dit4dit_ros.demo.train import DemoTrainDataset, DemoTrainSettings, train_demo
    from dit4dit_ros.model.checkpoint import load_checkpoint

    out = tmp_path / "run"
    train_demo(DemoTrainSettings(dataset=str(dataset), out=str(out), steps=2, batch_size=2, save_every=2, threads=1))
    first = json.loads((out / "checkpoints" / "step_0000002" / "config.json").read_text())["video"]["vae"]
    assert first["latents_std"] != [1.0] * 16 and all(0 < v < 1 for v in first["latents_std"])
    # An engine loading the checkpoint normalises like training did: unit-scale latents on the demo frames.
    model = load_checkpoint(out / "checkpoints" / "step_0000002")[0]
    ds = DemoTrainDataset(dataset, model.cfg, _prompt_cache(model.cfg))
    clips = torch.stack([ds.reader[i]["video"] for i in range(0, len(ds), 5)])
    z = model.video.encode(model.video._pixels(clips, "clips", clips.shape[1]))
    assert 0.6 < float(z.std()) < 1.6 and abs(float(z.mean())) < 0.3
    # A resumed run keeps the statistics its weights were trained with (the VAE is loaded, not re-drawn).
    train_demo(DemoTrainSettings(dataset=str(dataset), out=str(out), steps=4, batch_size=2, save_every=2, threads=1,
                                 resume="auto", seed=1))
    resumed = json.loads((out / "checkpoints" / "step_0000004" / "config.json").read_text())["video"]["vae"]
    assert resumed["latents_std"] == first["latents_std"] and resumed["latents_mean"] == first["latents_mean"]
    # ... also when the resumed run is told not to calibrate: the weights and their statistics belong together.
    train_demo(DemoTrainSettings(dataset=str(dataset), out=str(out), steps=6, batch_size=2, save_every=2, threads=1,
                                 resume="auto", calibrate_latents=False))
    kept = json.loads((out / "checkpoints" / "step_0000006" / "config.json").read_text())["video"]["vae"]
    assert kept["latents_std"] == first["latents_std"]


def test_action_stage_from_a_checkpoint_trains_only_the_head(dataset, tmp_path):
    """`--mode action --init-from CKPT`: the trunk and the random VAE are the checkpoint's, untouched; the head
    moves; the latent statistics come with the weights (no re-calibration on a re-drawn VAE)."""
    import json

    import torch

    from dit4dit_ros.demo.train import DemoTrainSettings, train_demo
    from dit4dit_ros.model.checkpoint import read_weights

    first = tmp_path / "joint"
    train_demo(DemoTrainSettings(dataset=str(dataset), out=str(first), steps=2, batch_size=2, save_every=2, threads=1))
    init = first / "checkpoints" / "step_0000002"
    second = tmp_path / "action"
    train_demo(DemoTrainSettings(dataset=str(dataset), out=str(second), steps=3, batch_size=2, save_every=3,
                                 threads=1, lr=1e-3, mode="action", init_from=str(init), seed=7))
    out = second / "checkpoints" / "step_0000003"
    before, after = read_weights(init / "model.safetensors"), read_weights(out / "model.safetensors")
    assert before.keys() == after.keys()
    frozen = [k for k in before if k.startswith("video.")]
    head = [k for k in before if k.startswith("action.")]
    assert frozen and head
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in head)
    cfg_before = json.loads((init / "config.json").read_text())
    cfg_after = json.loads((out / "config.json").read_text())
    assert cfg_after["video"]["vae"]["latents_std"] == cfg_before["video"]["vae"]["latents_std"]
    assert cfg_after["mode"] == "action"
    # A checkpoint of another architecture with the same tensor shapes (here: another hooked block) is refused.
    other = tmp_path / "other"
    other.mkdir()
    for f in init.iterdir():
        if f.is_file():
            (other / f.name).write_bytes(f.read_bytes())
    cfg_other = dict(cfg_before, video={**cfg_before["video"], "extract_layer": 2})
    (other / "config.json").write_text(json.dumps(cfg_other))
    with pytest.raises(ValueError, match=r"differs from this run's model config in \['video.extract_layer'\]"):
        train_demo(DemoTrainSettings(dataset=str(dataset), out=str(tmp_path / "refused"), steps=1, batch_size=2,
                                     threads=1, mode="action", init_from=str(other)))


def test_action_stage_settings_are_checked(tmp_path):
    from dit4dit_ros.demo.train import DemoTrainSettings

    with pytest.raises(ValueError, match="mode must be one of"):
        DemoTrainSettings(dataset="d", out="o", mode="vision")
    with pytest.raises(FileNotFoundError, match=r"init_from .*no config.json, model.safetensors"):
        DemoTrainSettings(dataset="d", out="o", init_from=str(tmp_path))
    with pytest.raises(ValueError, match="give one of them"):
        DemoTrainSettings(dataset="d", out="o", init_from=str(tmp_path), resume="auto")


def _prompt_cache(cfg):
    from dit4dit_ros.demo.train import build_prompt_cache

    return build_prompt_cache([INSTRUCTION], "tiny-random:0", cfg.video.prompt_max_length)


def test_ship_checkpoint_halves_weights_and_loads(tiny_engine, tmp_path):
    import torch
    from safetensors.torch import load_file

    from dit4dit_ros.demo.train import ship_checkpoint
    from dit4dit_ros.engine.torch_engine import TorchEngine
    from dit4dit_ros.model.checkpoint import WEIGHTS_FILE, save_checkpoint

    src = tmp_path / "ckpt"
    save_checkpoint(src, tiny_engine.model, tiny_engine.normalization, tiny_engine.prompt_cache)
    dst = ship_checkpoint(src, tmp_path / "shipped")
    weights = load_file(str(dst / WEIGHTS_FILE))
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    assert (dst / WEIGHTS_FILE).stat().st_size < 0.6 * (src / WEIGHTS_FILE).stat().st_size
    engine = TorchEngine(str(dst))
    assert engine.instructions == (INSTRUCTION,) and engine.control_period == pytest.approx(0.1)
    with pytest.raises(FileNotFoundError, match="complete checkpoint"):
        ship_checkpoint(tmp_path / "nowhere", tmp_path / "x")


def test_demo_train_settings_reject_an_unknown_device():
    from dit4dit_ros.demo.train import DemoTrainSettings

    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda"):
        DemoTrainSettings(dataset="d", out="o", device="tpu")
    assert DemoTrainSettings(dataset="d", out="o", device="cuda:1").device == "cuda:1"


def test_collect_gives_up_after_max_failures_and_refuses_a_negative_count(tmp_path):
    """Seed 3005 of pick_place puts the block out of the right arm's reach (the expert's IK does not converge):
    with no failure tolerated, collection stops with the failed seed named and writes no dataset."""
    from dit4dit_ros.demo.collect import collect

    with pytest.raises(ValueError, match="max_failures must be >= 0"):
        collect(tmp_path / "neg", task="pick_place", episodes=1, seed=3005, max_failures=-1)
    with pytest.raises(RuntimeError, match=r"the expert failed on 1 seeds \[3005\]"):
        collect(tmp_path / "zero", task="pick_place", episodes=1, seed=3005, max_failures=0)
    assert not (tmp_path / "zero" / "meta" / "info.json").exists()


def test_collect_with_two_workers_writes_the_same_demonstrations(dataset, tmp_path):
    """--workers 2: the same seeds give the same states and actions in the same order as one process."""
    import pyarrow.parquet as pq

    from dit4dit_ros.cli import main

    out = tmp_path / "reach2_workers"
    assert main(["collect-sim", "--task", "reach", "--episodes", "2", "--out", str(out), "--seed", "3",
                 "--workers", "2"]) == 0

    def table(root: Path):
        files = sorted((root / "data").rglob("*.parquet"))
        assert len(files) == 2, files
        return [pq.read_table(f).select(["episode_index", "frame_index", "observation.state", "action"]).to_pylist()
                for f in files]

    assert table(out) == table(dataset)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        from dit4dit_ros.demo.collect import collect

        collect(tmp_path / "none", episodes=1, workers=0)
