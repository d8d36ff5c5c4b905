"""Action DiT: shapes, padded-dim masking, interleaved attention, determinism and config validation."""
from __future__ import annotations

import pytest
import torch

from dit4dit_ros.model.action_dit import ActionDiT, ActionDiTConfig

VIS = 24


def tiny_cfg(**kw) -> ActionDiTConfig:
    base = dict(state_dim=16, action_dim=8, horizon=4, num_heads=2, head_dim=16, hidden_size=64, num_layers=4,
                output_dim=48, dropout=0.0)
    base.update(kw)
    return ActionDiTConfig(**base)


def inputs(cfg: ActionDiTConfig, b: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    vis = torch.randn(b, 10, VIS, generator=g)
    state = torch.randn(b, cfg.state_dim, generator=g)
    actions = torch.randn(b, cfg.horizon, cfg.action_dim, generator=g)
    mask = torch.ones_like(actions)
    return vis, state, actions, mask


def test_shapes_and_interleaving():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    m = ActionDiT(cfg, VIS)
    blocks = m.model.transformer_blocks
    assert [b.is_cross for b in blocks] == [True, False, True, False]
    assert blocks[0].attn1.to_k.in_features == VIS and blocks[1].attn1.to_k.in_features == cfg.inner_dim
    vis, state, actions, mask = inputs(cfg)
    loss = m.loss(vis, state, actions, mask, generator=torch.Generator().manual_seed(1))
    assert loss.ndim == 0 and torch.isfinite(loss)
    out = m.sample(vis, state, generator=torch.Generator().manual_seed(2))
    assert out.shape == (3, cfg.horizon, cfg.action_dim)
    again = m.sample(vis, state, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, again)
    assert m.sample(vis, state, num_steps=1, generator=torch.Generator().manual_seed(2)).shape == out.shape


def test_all_cross_attention_without_interleave():
    m = ActionDiT(tiny_cfg(interleave_self_attention=False), VIS)
    assert all(b.is_cross for b in m.model.transformer_blocks)


def test_padded_action_dims_do_not_affect_loss_or_gradients():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    m = ActionDiT(cfg, VIS)
    vis, state, actions, mask = inputs(cfg)
    mask[..., 5:] = 0.0
    # Padded entries are zeros in real data (pad_to); huge prediction errors there must not count.
    a0 = actions.clone()
    a0[..., 5:] = 0.0
    l_a = m.loss(vis, state, a0, mask, generator=torch.Generator().manual_seed(7))
    # the decoder output columns of padded dims get no gradient
    m.zero_grad()
    l_a.backward()
    w = m.action_decoder.layer2.weight.grad
    assert torch.all(w[5:] == 0) and torch.any(w[:5] != 0)
    # Loss equals the mean over real entries only: recompute by hand with the same draws.
    g = torch.Generator().manual_seed(7)
    noise = torch.randn(a0.shape, generator=g)
    from dit4dit_ros.model.flow_matching import sample_beta_time

    t = sample_beta_time(a0.shape[0], generator=g)
    x_t = (1 - t[:, None, None]) * a0 + t[:, None, None] * noise
    with torch.no_grad():
        pred = m.velocity(x_t, m.time_bucket(t), vis, m.encode_state(state))
    target = noise - a0
    manual = ((pred - target)[..., :5] ** 2).mean()
    assert float(l_a.detach()) == pytest.approx(float(manual), rel=1e-5)


def test_repeated_diffusion_steps_expands_batch():
    cfg = tiny_cfg(repeated_diffusion_steps=3)
    m = ActionDiT(cfg, VIS)
    seen = []
    m.model.register_forward_hook(lambda mod, args, out: seen.append(out.shape[0]))
    vis, state, actions, mask = inputs(cfg, b=2)
    m.loss(vis, state, actions, mask)
    assert seen == [6]


def test_gradient_checkpointing_gives_same_gradients():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    m = ActionDiT(cfg, VIS)
    vis, state, actions, mask = inputs(cfg)
    grads = []
    for ckpt in (False, True):
        m.set_gradient_checkpointing(ckpt)
        m.zero_grad()
        m.loss(vis, state, actions, mask, generator=torch.Generator().manual_seed(3)).backward()
        grads.append(m.state_encoder.layer1.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_bad_inputs_are_named():
    cfg = tiny_cfg()
    m = ActionDiT(cfg, VIS)
    vis, state, actions, mask = inputs(cfg)
    with pytest.raises(ValueError, match="state has shape"):
        m.sample(vis, state[:, :3])
    with pytest.raises(ValueError, match="visual_tokens"):
        m.sample(vis[..., :5], state)
    with pytest.raises(ValueError, match="action_mask"):
        m.loss(vis, state, actions, mask[:, :2])


def test_config_validation_and_round_trip():
    cfg = tiny_cfg()
    assert ActionDiTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="num_layers"):
        tiny_cfg(num_layers=0)
    with pytest.raises(ValueError, match="unknown keys"):
        ActionDiTConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    default = ActionDiTConfig()
    assert default.inner_dim == 768 and default.num_layers == 16


def test_visual_tokens_are_a_set_unless_the_head_learns_their_positions():
    """Cross-attention pools a set: without context_tokens, permuting the visual tokens cannot change the chunk,
    so a head over position-free features cannot tell where an object is. With it, the same permutation does."""
    vis, state, _, _ = inputs(tiny_cfg())
    perm = torch.randperm(vis.shape[1], generator=torch.Generator().manual_seed(3))
    for context_tokens, should_change in ((0, False), (vis.shape[1], True)):
        torch.manual_seed(0)
        m = ActionDiT(tiny_cfg(context_tokens=context_tokens), VIS).eval()
        a = m.sample(vis, state, generator=torch.Generator().manual_seed(2))
        b = m.sample(vis[:, perm], state, generator=torch.Generator().manual_seed(2))
        assert (not torch.allclose(a, b, atol=1e-5)) == should_change, context_tokens


def test_context_position_is_trained_and_token_count_is_checked():
    cfg = tiny_cfg(context_tokens=10)
    m = ActionDiT(cfg, VIS)
    vis, state, actions, mask = inputs(cfg)
    m.loss(vis, state, actions, mask, generator=torch.Generator().manual_seed(1)).backward()
    assert m.context_position is not None and m.context_position.shape == (10, VIS)
    assert m.context_position.grad is not None and m.context_position.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="context_tokens=10"):
        m.sample(vis[:, :7], state)
    with pytest.raises(ValueError, match="context_tokens"):
        tiny_cfg(context_tokens=-1)
    assert ActionDiT(tiny_cfg(), VIS).context_position is None  # official layout: no extra parameter
