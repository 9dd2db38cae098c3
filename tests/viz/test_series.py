import numpy as np
import pytest
import xarray as xr

from attnflow.measure import energy, energy_staircase
from attnflow.viz import plot_cosine_histograms, plot_energy, plot_phase_diagram, plot_staircase


def test_energy_curves_use_each_runs_beta(circle_traj, sphere_traj):
    fig = plot_energy({"circle": circle_traj, "sphere": sphere_traj})
    lines = fig.get_axes()[0].get_lines()
    assert [line.get_label() for line in lines] == ["circle", "sphere"]
    np.testing.assert_allclose(lines[0].get_ydata(), energy(circle_traj, 2.0).values)
    np.testing.assert_allclose(lines[1].get_ydata(), energy(sphere_traj, 1.0).values)
    staircase = plot_energy(circle_traj, beta=5.0, normalised=True)
    np.testing.assert_allclose(
        staircase.get_axes()[0].get_lines()[0].get_ydata(), energy_staircase(circle_traj, 5.0).values
    )


def test_energy_needs_a_beta(circle_traj):
    from dataclasses import replace

    with pytest.raises(ValueError, match="beta"):
        plot_energy(replace(circle_traj, params={}))


def test_staircase_panel_shows_sum_of_squared_masses(circle_traj, tmp_path):
    fig = plot_staircase(circle_traj, path=tmp_path / "s.png")
    top, bottom = fig.get_axes()
    squares = top.get_lines()[1].get_ydata()
    # At t = 2 neighbouring tokens are 0.1 rad apart, more than tol = 0.05: six singletons, Σ m² = 1/6.
    assert squares[-1] == pytest.approx(1 / 6)
    assert bottom.get_ylabel() == "clusters"
    assert (tmp_path / "s.png").stat().st_size > 0


def test_cosine_histograms_are_densities(sphere_traj):
    fig = plot_cosine_histograms(sphere_traj, times=[0.0, 3.0], bins=10)
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax in axes:
        heights = np.array([bar.get_height() for bar in ax.patches])
        assert heights.sum() * 0.2 == pytest.approx(1.0)


def test_phase_diagram_draws_maps_and_curves():
    heat = xr.DataArray(
        np.random.default_rng(0).random((3, 4)),
        dims=("beta", "time"),
        coords={"beta": [1.0, 2.0, 3.0], "time": [0.0, 1.0, 2.0, 3.0]},
    )
    fig = plot_phase_diagram({"d = 8": heat}, curves={"d = 8": (np.array([1.0, 2.0]), np.array([1.0, 3.0]))})
    ax = fig.get_axes()[0]
    np.testing.assert_allclose(ax.collections[0].get_array().reshape(3, 4), heat.values)
    assert ax.get_lines()[-1].get_label().startswith("theory")
    with pytest.raises(ValueError, match="dims"):
        plot_phase_diagram({"bad": heat.rename({"beta": "b"})})
