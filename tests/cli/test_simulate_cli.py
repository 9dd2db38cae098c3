"""The simulate and demo commands, driven through typer's runner."""

import numpy as np
import torch
from typer.testing import CliRunner

from attnflow import SelfAttention, Trajectory, init, simulate
from attnflow.cli import app

runner = CliRunner()


def test_simulate_writes_the_same_trajectory_as_the_api(tmp_path):
    out = tmp_path / "run.zarr"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--n",
            "16",
            "--d",
            "3",
            "--beta",
            "4",
            "--t-end",
            "1",
            "--dt",
            "0.1",
            "--seed",
            "3",
            "--dtype",
            "float64",
            "--out",
            str(out),
            "--no-progress",
            "--plot",
        ],
    )
    assert result.exit_code == 0, result.output
    saved = Trajectory.load(out)
    expected = simulate(SelfAttention(4.0), init.uniform_sphere(16, 3, seed=3, dtype=torch.float64), 1.0, 0.1)
    assert torch.equal(saved.x, expected.x)
    assert saved.params["seed"] == 3 and saved.params["beta"] == 4.0
    assert (tmp_path / "run_cloud.png").stat().st_size > 0
    assert (tmp_path / "run_energy.png").stat().st_size > 0


def test_simulate_with_heads_and_causal_mask(tmp_path):
    np.save(tmp_path / "x0.npy", init.uniform_sphere(8, 4, seed=1, dtype=torch.float64).numpy())
    args = [
        "simulate",
        "--start",
        "file",
        "--start-file",
        str(tmp_path / "x0.npy"),
        "--heads",
        "2",
        "--weights",
        "random",
        "--causal",
        "--t-end",
        "0.5",
        "--dtype",
        "float64",
        "--no-progress",
    ]
    for name, start in (("many", 8), ("alone", 1)):
        np.save(tmp_path / "x0.npy", init.uniform_sphere(8, 4, seed=1, dtype=torch.float64).numpy()[:start])
        result = runner.invoke(app, [*args, "--out", str(tmp_path / f"{name}.zarr")])
        assert result.exit_code == 0, result.output
    many, alone = Trajectory.load(tmp_path / "many.zarr"), Trajectory.load(tmp_path / "alone.zarr")
    assert many.params["heads"] == 2 and many.params["causal"] is True
    # Under a causal mask the first token sees only itself: the others cannot change its path.
    torch.testing.assert_close(many.x[:, 0], alone.x[:, 0])
    assert not torch.allclose(many.x[0, 1], many.x[-1, 1])


def test_bad_values_give_clear_errors(tmp_path):
    result = runner.invoke(
        app, ["simulate", "--dt", "-1", "--out", str(tmp_path / "x.zarr"), "--no-progress"]
    )
    assert result.exit_code == 2
    assert "dt must be > 0" in result.output
    result = runner.invoke(app, ["simulate", "--variant", "soft", "--out", str(tmp_path / "x.zarr")])
    assert result.exit_code != 0 and "variant" in result.output
    result = runner.invoke(app, ["simulate", "--start", "file", "--out", str(tmp_path / "x.zarr")])
    assert result.exit_code == 2 and "start 'file' needs start_file" in result.output
    result = runner.invoke(app, ["simulate", "--start", "uniform", "--out", str(tmp_path / "x.zarr")])
    assert result.exit_code != 0 and "uniform_sphere" in result.output
    result = runner.invoke(app, ["simulate", "--device", "tpu", "--out", str(tmp_path / "x.zarr")])
    assert result.exit_code == 2 and "device must be 'cpu'" in " ".join(result.output.split())


def test_demo_writes_data_and_figures(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--n", "12", "--t-end", "2"])
    assert result.exit_code == 0, result.output
    for name in ("beta1.zarr", "beta9.zarr", "cloud_beta1.png", "cloud_beta9.png", "energy.png", "beta9.gif"):
        assert (tmp_path / name).exists(), name
    assert Trajectory.load(tmp_path / "beta9.zarr").params["beta"] == 9.0


def test_simulate_runs_the_simulation_its_flags_name(tmp_path):
    from attnflow import Simulation

    out = tmp_path / "run.zarr"
    flags = {"start": "orthogonal", "n": "4", "d": "6", "weights": "random", "heads": "2", "seed": "5"}
    flags.update({"t-end": "0.3", "dtype": "float64", "beta": "2"})
    args = [part for name, value in flags.items() for part in (f"--{name}", value)]
    result = runner.invoke(app, ["simulate", *args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    spec = Simulation.from_flat(
        {"start": "orthogonal", "n": 4, "d": 6, "weights": "random", "heads": 2, "seed": 5, "t_end": 0.3}
        | {"dtype": "float64", "beta": 2.0}
    )
    saved = Trajectory.load(out)
    assert torch.equal(saved.x, spec.run().x)
    assert Simulation.from_dict(saved.params["simulation"]) == spec
