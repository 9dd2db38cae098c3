"""Models: each mixer against a direct float64 reference, causality, the decomposition, tracing."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from attnflow.paths import ARCHITECTURES, MIXERS, ModelConfig, build_model, next_token_log_probs, trace_model
from attnflow.paths.models import CausalConv, DiagonalSSM, LinearAttention, SoftmaxAttention


def _heads(module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b, length, d = x.shape
    qkv = module.qkv(x).view(b, length, 3, module.n_heads, d // module.n_heads)
    return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (b, L, h, dh)


def _merge(module, y: torch.Tensor) -> torch.Tensor:
    return module.out(y.reshape(*y.shape[:2], -1))


def test_softmax_attention_matches_masked_softmax() -> None:
    module = SoftmaxAttention(8, 2).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    q, k, v = _heads(module, x)
    y = torch.zeros_like(q)
    for t in range(5):
        scores = torch.einsum("bhk,bshk->bhs", q[:, t], k[:, : t + 1]) / 4**0.5
        y[:, t] = torch.einsum("bhs,bshv->bhv", scores.softmax(-1), v[:, : t + 1])
    torch.testing.assert_close(module(x), _merge(module, y))


def test_linear_attention_matches_quadratic_form() -> None:
    module = LinearAttention(8, 2).double()
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    q, k, v = _heads(module, x)
    q, k = F.elu(q) + 1, F.elu(k) + 1
    y = torch.zeros_like(q)
    for t in range(6):
        weights = torch.einsum("bhk,bshk->bhs", q[:, t], k[:, : t + 1])
        y[:, t] = torch.einsum("bhs,bshv->bhv", weights / weights.sum(-1, keepdim=True), v[:, : t + 1])
    torch.testing.assert_close(module(x), _merge(module, y))


def test_ssm_matches_its_recurrence() -> None:
    module = DiagonalSSM(4, 3).double()
    x = torch.randn(2, 7, 4, dtype=torch.float64)
    u = module.inp(x)
    decay = torch.sigmoid(module.decay_logit)
    state = torch.zeros(2, 4, 3, dtype=torch.float64)
    outputs = []
    for t in range(7):
        state = decay * state + module.b * u[:, t, :, None]
        outputs.append((module.c * state).sum(-1) + module.skip * u[:, t])
    torch.testing.assert_close(module(x), module.out(torch.stack(outputs, 1)))


def test_conv_matches_direct_sum() -> None:
    module = CausalConv(4, 3).double()
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    u = module.inp(x)
    y = torch.zeros_like(u)
    for t in range(6):
        for lag in range(min(3, t + 1)):
            y[:, t] += module.weight[:, lag] * u[:, t - lag]
    torch.testing.assert_close(module(x), module.out(y))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_causality(architecture: str) -> None:
    """Changing a future token never changes an earlier output (logits or any hidden state)."""
    model = build_model(ModelConfig(5, architecture, d_model=16, n_layers=2, max_len=12)).eval()
    ids = torch.randint(0, 6, (3, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 7] = (ids[:, 7] + 1) % 6
    with torch.no_grad():
        a = model(ids, output_hidden_states=True)
        b = model(changed, output_hidden_states=True)
    assert torch.equal(a.logits[:, :7], b.logits[:, :7])
    for before, after in zip(a.hidden_states, b.hidden_states, strict=True):
        assert torch.equal(before[:, :7], after[:, :7])
    assert not torch.allclose(a.logits[:, 7], b.logits[:, 7])


@pytest.mark.parametrize("mixer", MIXERS)
def test_block_updates_sum_to_the_residual_stream(mixer: str) -> None:
    model = build_model(ModelConfig(5, mixer, d_model=16, n_layers=3, max_len=10)).eval()
    ids = torch.randint(0, 6, (2, 10))
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
    states = out.hidden_states
    for layer in range(2):
        torch.testing.assert_close(
            states[layer + 1] - states[layer], out.mixer_updates[layer] + out.mlp_updates[layer]
        )
    residual = states[2] + out.mixer_updates[2] + out.mlp_updates[2]
    torch.testing.assert_close(states[3], model.norm(residual))
    torch.testing.assert_close(out.logits, model.head(states[3]))


@pytest.mark.parametrize("architecture", ["attention", "ssm", "gpt2", "llama"])
def test_trace_equals_the_models_hidden_states(architecture: str) -> None:
    model = build_model(ModelConfig(5, architecture, d_model=16, n_layers=2, max_len=10)).eval()
    path = torch.tensor([0, 3, 1, 4, 2])
    traj = trace_model(model, path, 5)
    assert traj.axis == "layer" and traj.n_states == 3 and traj.n_tokens == 5
    with torch.no_grad():
        states = model(torch.tensor([[5, 0, 3, 1, 4]]), output_hidden_states=True).hidden_states
    torch.testing.assert_close(traj.x, torch.stack([s[0] for s in states]))
    assert traj.labels == ("<bos>", "0", "3", "1", "4")
    assert traj.params == {"architecture": architecture, "token_ids": [5, 0, 3, 1, 4]}


def test_next_token_log_probs_are_normalised_laws() -> None:
    model = build_model(ModelConfig(4, "gpt2", d_model=16, n_layers=1, max_len=8))
    log_q = next_token_log_probs(model, torch.randint(0, 4, (3, 8)), 4)
    assert log_q.shape == (3, 8, 4)
    torch.testing.assert_close(log_q.exp().sum(-1), torch.ones(3, 8))


def test_same_seed_same_weights() -> None:
    a = build_model(ModelConfig(4, "conv", seed=3))
    b = build_model(ModelConfig(4, "conv", seed=3))
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "mamba"}, "architecture must be one of"),
        ({"d_model": 10, "n_heads": 3}, "divisible by n_heads"),
        ({"n_layers": 0}, "n_layers"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"max_len": 1}, "max_len"),
    ],
)
def test_bad_configs_error_clearly(kwargs: dict, message: str) -> None:
    config = {"vocab_size": 4, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        ModelConfig(**config)


def test_bad_inputs_error_clearly() -> None:
    model = build_model(ModelConfig(4, "attention", max_len=6))
    with pytest.raises(ValueError, match="max_len"):
        model(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        model(torch.full((1, 3), 5))
