"""Per-head effective β and the long-context phase map: β against the model's own attention scores and a
dense float64 eigendecomposition, the phases against the closed form, the entropy against HuggingFace's
attention weights, and the verdict on the claim and on a rival with shuffled head labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import xarray as xr

from attnflow.experiments import get
from attnflow.experiments.lm_frontier import PASSAGES
from attnflow.experiments.lm_heads import attention_entropy
from attnflow.lm import head_phases, head_spectra


def test_beta_is_the_spectral_norm_of_the_symmetrised_score_matrix(tiny_text_model):
    spectra = head_spectra(tiny_text_model)
    config = tiny_text_model.model.config
    d, heads = config.hidden_size, config.num_attention_heads
    d_k = d // heads
    rng = np.random.default_rng(1)
    with torch.no_grad():
        _check_blocks(tiny_text_model, spectra, d, heads, d_k, rng)


def _check_blocks(tiny_text_model, spectra, d, heads, d_k, rng):
    for index, block in enumerate(tiny_text_model.layers):
        attention, norm = block.self_attn, block.input_layernorm
        gain = torch.diag(norm.weight.double())
        x = torch.from_numpy(rng.standard_normal((2, d)))
        u = norm(x.float()).double()  # the model's own RMSNorm
        q = attention.q_proj(u.float()).double().view(2, heads, d_k)
        k = attention.k_proj(u.float()).double().view(2, heads, d_k)
        y = (u / np.sqrt(d) / norm.weight.double()).numpy()  # unit directions (gain taken out)
        for h in range(heads):
            w_q = attention.q_proj.weight.double()[h * d_k : (h + 1) * d_k]
            w_k = attention.k_proj.weight.double()[h * d_k : (h + 1) * d_k]
            product = gain @ w_q.T @ w_k @ gain
            b = (d / np.sqrt(d_k) * (product + product.T) / 2).numpy()  # dense d × d reference
            assert spectra["beta"].values[index, h] == pytest.approx(np.abs(np.linalg.eigvalsh(b)).max())
            # the symmetrised score the model computes between the two tokens is yᵀ B y'
            symmetric = (q[0, h] @ k[1, h] + q[1, h] @ k[0, h]).item() / 2 / np.sqrt(d_k)
            assert y[0] @ b @ y[1] == pytest.approx(symmetric, rel=1e-4, abs=1e-5)
            w_v = attention.v_proj.weight.double()[h * d_k : (h + 1) * d_k]
            w_o = attention.o_proj.weight.double()[:, h * d_k : (h + 1) * d_k]
            value = (w_o @ w_v @ gain).numpy()
            assert spectra["value_norm"].values[index, h] == pytest.approx(np.linalg.norm(value, 2))
            assert spectra["value_eig"].values[index, h] == pytest.approx(np.linalg.eigvals(value).real.max())


def test_head_phases_follow_the_closed_form():
    beta, n, rho = np.array([[2.0, 9.0, 20.0]]), 100, 0.5
    phases = head_phases(beta, n, rho)
    scaled = beta * (1 - rho) / np.log(n)  # s = γ(1 − ρ), γ = β / log n
    np.testing.assert_allclose(phases["scaled"].values, scaled)
    assert list(phases["phase"].values[0]) == [
        "averaging",
        "critical",
        "identity-like",
    ]  # s ≈ 0.22, 0.98, 2.2; band ± 0.22
    np.testing.assert_allclose(phases["crossover_n"].values, np.exp(beta * (1 - rho)))
    p = 1 / (1 + (n - 1) * n ** (-scaled))
    np.testing.assert_allclose(phases["self_weight"].values, p)
    per_layer = head_phases(np.vstack([beta, beta]), n, xr.DataArray([0.5, 0.8], dims="layer"))
    np.testing.assert_allclose(per_layer["scaled"].values[1], beta[0] * 0.2 / np.log(n))
    with pytest.raises(ValueError, match="n"):
        head_phases(beta, 1, rho)
    negative = head_phases(np.array([[-1.0]]), n, rho)  # scores the others above itself
    assert negative["phase"].item() == "averaging" and np.isnan(negative["self_weight"].item())


def test_attention_entropy_is_zero_on_one_key_and_one_when_uniform():
    n = 5
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    one_key = np.zeros((n, n))
    one_key[:, 0] = 1.0
    values = attention_entropy(np.stack([uniform, one_key])[None], causal=True)
    np.testing.assert_allclose(values, [[1.0, 0.0]], atol=1e-12)


def test_head_phase_entropy_is_read_from_the_models_attention(tiny_text_model_dir, tmp_path):
    from attnflow.lm import load

    experiment = get("head-phase-map")
    texts = list(PASSAGES[:2])
    params = experiment.params(overrides={"model": str(tiny_text_model_dir), "passages": texts})
    values = experiment.compute(params)
    lm = load(str(tiny_text_model_dir))
    lm.model.set_attn_implementation("eager")
    reference = []
    for text in texts:
        ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            attentions = lm.model(ids, output_attentions=True).attentions
        p = torch.stack([a[0] for a in attentions]).double().numpy()  # (L, H, n, n)
        n = p.shape[-1]
        rows = -(p * np.log(np.where(p > 0, p, 1))).sum(-1)[..., 1:] / np.log(np.arange(2, n + 1))
        reference.append(rows.mean(-1))
    lm.model.set_attn_implementation("sdpa")
    np.testing.assert_allclose(values["entropy"], np.mean(reference, axis=0), rtol=1e-5)
    assert values["scaled"].shape == values["entropy"].shape == (2, 2)
    (figure,) = experiment.figures(params, values, tmp_path)
    assert figure.stat().st_size > 1000


def test_head_phase_verdict_and_the_shuffled_heads_rival():
    experiment = get("head-phase-map")
    params = experiment.params()
    rng = np.random.default_rng(0)
    scaled = rng.uniform(0.5, 3.0, size=(40, 50))  # 2000 heads: the rival's correlation is ±0.02
    entropy = 1 - 0.2 * scaled + 0.1 * rng.standard_normal(scaled.shape)
    values = {
        "scaled": scaled,
        "entropy": entropy,
        "n": 60.0,
        "phase_counts": np.array([50, 50, 100]),
        "long_phase_counts": np.array([200, 0, 0]),
    }
    assert experiment.verdict(params, values).status == "agrees"
    # Rival: the same β values given to the wrong heads; the ordering is gone and must be rejected.
    shuffled = rng.permutation(scaled.ravel()).reshape(scaled.shape)
    assert experiment.verdict(params, {**values, "scaled": shuffled}).status == "disagrees"
    few = {**values, "scaled": scaled[0, :4], "entropy": entropy[0, :4]}
    assert experiment.verdict(params, few).status == "inconclusive"


def test_score_gap_is_the_heads_own_score_gap_in_float64(tiny_text_model):
    from attnflow.lm import head_score_gaps, record

    rec = record(tiny_text_model, PASSAGES[0][:60])
    gaps = head_score_gaps(rec)["gap"].values
    config = tiny_text_model.model.config
    d, heads = config.hidden_size, config.num_attention_heads
    d_k = d // heads
    n = rec.n_tokens
    torch.set_grad_enabled(False)
    try:
        _check_gaps(tiny_text_model, rec, gaps, heads, d_k, n)
    finally:
        torch.set_grad_enabled(True)


def _check_gaps(tiny_text_model, rec, gaps, heads, d_k, n):
    for index, block in enumerate(tiny_text_model.layers):
        norm, attention = block.input_layernorm, block.self_attn
        h = rec.residual[index].double()
        x = h / torch.sqrt((h**2).mean(-1, keepdim=True) + norm.variance_epsilon) * norm.weight.double()
        for head in range(heads):
            rows = slice(head * d_k, (head + 1) * d_k)
            q = x @ attention.q_proj.weight.double()[rows].T
            k = x @ attention.k_proj.weight.double()[rows].T
            score = (q @ k.T).numpy() / np.sqrt(d_k)  # dense n × n reference
            # query i sees keys 1 … i; token 0 (the sink) and query 1 (no other key) are left out
            expected = np.mean([score[i, i] - score[i, 1:i].mean() for i in range(2, n)])
            # the model runs its norm in float32 (≈ 6e-8 per entry); the gap of two ~unit scores keeps ≲ 1e-6
            assert gaps[index, head] == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_score_gap_returns_beta_in_the_theorems_simplex_case(tiny_text_model):
    """M_h = βI on an equiangular cloud: the gap is β(1 − ρ), so gap/(1 − ρ) gives β back."""
    from attnflow.lm import head_score_gaps, record

    config = tiny_text_model.model.config
    d, heads = config.hidden_size, config.num_attention_heads
    d_k, beta, rho, n = d // heads, 3.0, 0.3, 7
    # W_Q = W_K = c [I_dk 0] for head 0 and gain 1: M_0 = d c²/√d_k on the first d_k coordinates = βI there
    c = np.sqrt(beta * np.sqrt(d_k) / d)
    rng = np.random.default_rng(2)
    frame, _ = np.linalg.qr(rng.standard_normal((d_k, n + 1)))  # n + 1 orthonormal directions in ℝ^{d_k}
    y = np.zeros((n, d))
    y[:, :d_k] = np.sqrt(rho) * frame[:, 0] + np.sqrt(1 - rho) * frame[:, 1:].T  # pairwise cosine ρ
    states = torch.from_numpy(7.0 * y).float()  # any norm: the RMSNorm takes it out
    rec = record(tiny_text_model, list(range(5, 5 + n)))
    rec = dataclasses.replace(rec, residual=states[None].expand(rec.n_layers + 1, n, d).clone())
    saved = {name: p.detach().clone() for name, p in tiny_text_model.model.named_parameters()}
    try:
        with torch.no_grad():
            for block in tiny_text_model.layers:
                block.input_layernorm.weight.fill_(1.0)
                for projection in (block.self_attn.q_proj, block.self_attn.k_proj):
                    projection.weight.zero_()
                    projection.weight[:d_k, :d_k] = c * torch.eye(d_k)
        gaps = head_score_gaps(rec)["gap"].values
    finally:
        with torch.no_grad():
            for name, p in tiny_text_model.model.named_parameters():
                p.copy_(saved[name])
    np.testing.assert_allclose(gaps[:, 0] / (1 - rho), beta, rtol=1e-5)
