"""``attnflow trace`` end to end on a tiny model directory."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from typer.testing import CliRunner

from attnflow import Trajectory
from attnflow.cli import app
from attnflow.lm import decompose, fit_dynamics, logit_lens, particle_measures, trace


def test_trace_command_writes_everything(tiny_text_model_dir, tiny_text_model, tmp_path):
    out = tmp_path / "run"
    text = "the quick brown fox jumps over the lazy dog"
    result = CliRunner().invoke(
        app, ["trace", "--model", str(tiny_text_model_dir), "--text", text, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    traj = Trajectory.load(out / "trajectory.zarr")
    assert torch.equal(traj.x, trace(tiny_text_model, text).x)
    layers = trace(tiny_text_model, text)
    expected = {
        "decomposition": decompose(tiny_text_model, text),
        "lens": logit_lens(tiny_text_model, text),
        "particles": particle_measures(layers),
        "fit": fit_dynamics(layers),
    }
    for name, reference in expected.items():
        with xr.open_zarr(out / f"{name}.zarr", consolidated=False) as ds:
            assert set(ds.data_vars) == set(reference.data_vars), name
            for var in reference.data_vars:
                np.testing.assert_array_equal(ds[var].values, reference[var].values.astype(ds[var].dtype))
    with xr.open_zarr(out / "lens.zarr", consolidated=False) as lens:
        assert lens.sizes["layer"] == 3 and str(lens.label.values[1]) == "the"
    for name in ("lens", "cosines", "shares", "fit"):
        assert (out / f"{name}.png").stat().st_size > 1000


def test_trace_command_reports_bad_input(tmp_path):
    result = CliRunner().invoke(
        app, ["trace", "--model", "nope", "--text", "hi", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "unknown model" in result.output
