"""``attnflow trace`` end to end on a tiny model directory: one forward pass, kind-marked outputs."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from typer.testing import CliRunner

import attnflow
from attnflow import Trajectory, io
from attnflow.cli import app
from attnflow.lm import (
    Recording,
    audit,
    decompose,
    fit_dynamics,
    logit_lens,
    particle_measures,
    record,
    trace,
)

TEXT = "the quick brown fox jumps over the lazy dog"


def test_trace_command_runs_the_model_once_and_writes_everything(
    tiny_text_model_dir, tiny_text_model, tmp_path, forward_passes
):
    out = tmp_path / "run"
    args = ["trace", "--model", str(tiny_text_model_dir), "--text", TEXT, "--out", str(out)]
    with forward_passes() as counted:
        result = CliRunner().invoke(app, [*args, "--save-recording"])
    assert result.exit_code == 0, result.output
    assert counted["passes"] == 1
    traj = attnflow.load(out / "trajectory.zarr")
    assert isinstance(traj, Trajectory) and torch.equal(traj.x, trace(tiny_text_model, TEXT).x)
    layers = trace(tiny_text_model, TEXT)
    expected = {
        "decomposition": decompose(tiny_text_model, TEXT),
        "audit": audit(tiny_text_model, TEXT),
        "lens": logit_lens(tiny_text_model, TEXT, sublayers=True),
        "particles": particle_measures(layers),
        "fit": fit_dynamics(layers),
    }
    for name, reference in expected.items():
        assert io.read_kind(out / f"{name}.zarr") == "dataset"
        ds = attnflow.load(out / f"{name}.zarr")
        assert set(ds.data_vars) == set(reference.data_vars), name
        for var in reference.data_vars:
            np.testing.assert_array_equal(ds[var].values, reference[var].values.astype(ds[var].dtype))
    with xr.open_zarr(out / "lens.zarr", consolidated=False) as lens:
        assert lens.sizes["layer"] == 5 and str(lens.label.values[1]) == "the"
    stored, direct = attnflow.load(out / "recording.zarr"), record(tiny_text_model, TEXT)
    assert isinstance(stored, Recording) and stored.labels == direct.labels
    assert torch.equal(stored.residual, direct.residual) and torch.equal(stored.logits, direct.logits)
    for name in ("lens", "lens_curves", "cosines", "shares", "fit", "measures"):
        assert (out / f"{name}.png").stat().st_size > 1000
    assert not (out / "patterns.png").exists()
    summary = " ".join(result.output.split())
    assert "pre-norm; residual additive: yes" in summary
    log_p = torch.log_softmax(direct.logits[-1].double(), -1)
    best = tiny_text_model.token_strings([int(log_p.argmax())])[0]
    assert f"next token: {best!r} {float(log_p.max().exp()):.3f}" in summary
    assert f"the answer {best!r} is the logit lens's top token" in summary


def test_trace_command_with_sublayers_and_no_figures(tiny_text_model_dir, tiny_text_model, tmp_path):
    out = tmp_path / "fine"
    args = ["trace", "--model", str(tiny_text_model_dir), "--text", TEXT, "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--sublayers", "--no-figures"])
    assert result.exit_code == 0, result.output
    traj = attnflow.load(out / "trajectory.zarr")
    assert torch.equal(traj.x, trace(tiny_text_model, TEXT, sublayers=True).x)
    assert not list(out.glob("*.png")) and not (out / "recording.zarr").exists()


def test_trace_command_reports_bad_input(tmp_path):
    result = CliRunner().invoke(
        app, ["trace", "--model", "nope", "--text", "hi", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "unknown model" in result.output


def test_trace_command_with_patterns_device_and_dtype(tiny_text_model_dir, tmp_path):
    out = tmp_path / "heads"
    args = ["trace", "--model", str(tiny_text_model_dir), "--text", TEXT, "--out", str(out)]
    options = ["--patterns", "--device", "cpu", "--dtype", "float64", "--no-figures", "--save-recording"]
    result = CliRunner().invoke(app, [*args, *options])
    assert result.exit_code == 0, result.output
    stored = attnflow.load(out / "recording.zarr")
    assert stored.residual.dtype == torch.float64
    assert stored.patterns.shape[:2] == stored.head_outputs.shape[:2] == (2, 2)


def test_pattern_and_head_figures_are_drawn(tiny_models, ids, tmp_path):
    from attnflow.viz import plot_attention_patterns, plot_head_outputs

    rec = record(tiny_models["llama"], ids, patterns=True, heads=True)
    plot_attention_patterns(rec.patterns.numpy(), rec.labels, layers=[0], path=tmp_path / "patterns.png")
    plot_head_outputs(rec.head_outputs.numpy(), tmp_path / "heads.png")
    assert (tmp_path / "patterns.png").stat().st_size > 1000 and (
        tmp_path / "heads.png"
    ).stat().st_size > 1000


def test_trace_command_names_a_bad_device_or_a_missing_extra(tiny_text_model_dir, tmp_path, monkeypatch):
    args = ["trace", "--model", str(tiny_text_model_dir), "--text", TEXT, "--out", str(tmp_path / "y")]
    result = CliRunner().invoke(app, [*args, "--device", "tpu"])
    assert result.exit_code == 2 and "device" in result.output and "Traceback" not in result.output
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)  # as if the extra were absent
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and 'pip install "attnflow[lm]"' in " ".join(result.output.split())
