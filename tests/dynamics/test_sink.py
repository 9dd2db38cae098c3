"""A sink (BOS) token against a direct float64 computation with the n×n matrix and the sink's column
formed explicitly."""

import numpy as np
import pytest
import torch

from attnflow import SelfAttention, init
from attnflow.dynamics import attention


def direct(x, beta, variant, sink, sink_value=None, causal=False, alibi=0.0, window=0, V=None):
    """ẋ_i = P(Σ_h (Σ_j e^{s_ij} V_h x_j + e^b v_∅)/Z_i), the sink an explicit extra column (NumPy)."""
    x = x.double().numpy()
    n, d = x.shape
    heads = np.eye(d)[None] if V is None else V.double().numpy().reshape(-1, d, d)
    value = np.zeros(d) if sink_value is None else sink_value.double().numpy()
    i, j = np.indices((n, n))
    scores = beta * x @ x.T - alibi * np.abs(i - j)
    if causal:
        scores = np.where(j > i, -np.inf, scores)
    if window:
        scores = np.where(np.abs(i - j) > window, -np.inf, scores)
    scores = np.concatenate([scores, np.full((n, 1), sink)], axis=1)  # the sink's column
    kernel = np.exp(scores)
    weights = kernel / (kernel.sum(1, keepdims=True) if variant == "SA" else n)
    out = sum(weights[:, :n] @ (x @ v.T) + weights[:, n:] * value for v in heads)
    return torch.from_numpy(out - (out * x).sum(1, keepdims=True) * x)


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize(
    ("causal", "alibi", "window"), [(False, 0.0, 0), (True, 0.0, 0), (True, 0.3, 0), (False, 0.2, 3)]
)
def test_sink_matches_direct(variant, causal, alibi, window):
    x = init.uniform_sphere(10, 3, seed=2, dtype=torch.float64)
    value = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64)
    field = SelfAttention(2.5, variant, causal=causal, alibi=alibi, window=window, sink=1.5, sink_value=value)
    expected = direct(x, 2.5, variant, 1.5, value, causal=causal, alibi=alibi, window=window)
    torch.testing.assert_close(field(0.0, x), expected, atol=1e-13, rtol=1e-12)


def test_sink_with_heads_batches_float32_and_row_blocks(monkeypatch):
    x = init.uniform_sphere(9, 4, seed=5, batch=3, dtype=torch.float64)
    V = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    field = SelfAttention(3.0, V=V, causal=True, sink=0.7)
    expected = torch.stack([direct(cloud, 3.0, "SA", 0.7, causal=True, V=V) for cloud in x])
    torch.testing.assert_close(field(0.0, x), expected, atol=1e-13, rtol=1e-12)
    torch.testing.assert_close(field(0.0, x.float()), expected.float(), atol=1e-5, rtol=1e-5)
    monkeypatch.setattr(attention, "_BLOCK_ELEMENTS", 2 * 3 * 9)  # blocks of one row: same numbers
    torch.testing.assert_close(field(0.0, x), expected, atol=1e-13, rtol=1e-12)


def test_a_large_sink_score_does_not_overflow_and_absorbs_the_attention():
    x = init.uniform_sphere(6, 3, seed=1, dtype=torch.float32)
    velocity = SelfAttention(1.0, sink=500.0)(0.0, x)  # e^500 overflows float32 unless shifted
    assert torch.isfinite(velocity).all()
    assert velocity.abs().max() < 1e-30  # all the weight sits on a zero value
    # A very negative sink is no sink at all.
    torch.testing.assert_close(SelfAttention(1.0, sink=-500.0)(0.0, x), SelfAttention(1.0)(0.0, x))


def test_sink_arguments_are_validated_by_name():
    with pytest.raises(ValueError, match="sink_value needs a sink"):
        SelfAttention(1.0, sink_value=torch.zeros(3))
    with pytest.raises(ValueError, match="sink is supported"):
        SelfAttention(1.0, "hardmax", sink=1.0)
    with pytest.raises(ValueError, match="backend='fused'"):
        SelfAttention(1.0, sink=1.0, backend="fused")
    with pytest.raises(ValueError, match="sink"):
        SelfAttention(1.0, sink=float("nan"))
    with pytest.raises(ValueError, match="sink_value has shape"):
        SelfAttention(1.0, sink=1.0, sink_value=torch.zeros(2)).check_state(torch.eye(3))
    field = SelfAttention(1.0, sink=1.0)
    assert field.backend_for(init.uniform_sphere(2048, 3, seed=0)) == "sdpa"
    assert field.describe()["sink"] == 1.0 and "sink=1" in repr(field)


def test_sink_through_the_simulation_spec_and_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from attnflow import Simulation, Trajectory, simulate
    from attnflow.cli import app

    spec = Simulation.from_flat(
        {"n": 10, "d": 3, "beta": 2.0, "sink": 1.5, "t_end": 0.3, "dt": 0.1, "dtype": "float64"}
    )
    assert spec.to_flat()["sink"] == 1.5
    traj = simulate(spec)
    direct = simulate(
        SelfAttention(2.0, sink=1.5), traj.x[0], t_end=0.3, dt=0.1, method=spec.integrator.method
    )
    torch.testing.assert_close(traj.x, direct.x, rtol=0, atol=0)
    # A sink absorbs attention: the tokens move more slowly than without it.
    plain = simulate(SelfAttention(2.0), traj.x[0], t_end=0.3, dt=0.1, method=spec.integrator.method)
    assert (traj.x[-1] - traj.x[0]).norm() < (plain.x[-1] - plain.x[0]).norm()
    with pytest.raises(ValueError, match="sink is supported with variant 'SA' or 'USA'"):
        Simulation.from_flat({"sink": 1.0, "variant": "sinkhorn"})
    runner = CliRunner()
    out = tmp_path / "sink.zarr"
    args = ["simulate", "--n", "10", "--d", "3", "--beta", "2", "--sink", "1.5", "--t-end", "0.3"]
    result = runner.invoke(
        app, [*args, "--dt", "0.1", "--dtype", "float64", "--no-progress", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert Trajectory.load(out).params["sink"] == 1.5
    result = runner.invoke(app, ["simulate", "--sink", "nan", "--out", str(tmp_path / "bad.zarr")])
    assert result.exit_code == 2 and "sink" in result.output and "Traceback" not in result.output
