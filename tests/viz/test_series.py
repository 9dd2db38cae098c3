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
    theory = (np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    fig = plot_phase_diagram(
        {"d = 8": heat, "d = 64": 1 - heat}, curves={"theory": theory}, limits=(0, 1), label="fraction"
    )
    left, right = fig.get_axes()[:2]
    np.testing.assert_allclose(left.collections[0].get_array().reshape(3, 4), heat.values)
    np.testing.assert_allclose(right.collections[0].get_array().reshape(3, 4), 1 - heat.values)
    assert (left.get_title(), right.get_title()) == ("d = 8", "d = 64")
    assert (left.get_xlabel(), left.get_ylabel()) == ("time t", "β")
    # The curve is on every panel; its one legend sits below the maps (a map is data everywhere).
    assert len(right.get_lines()) == len(left.get_lines()) >= 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["theory"]
    assert left.collections[0].get_clim() == (0, 1) and fig.get_axes()[-1].get_ylabel() == "fraction"
    with pytest.raises(KeyError, match="x: 'bad' has no dimension 'time'"):
        plot_phase_diagram({"bad": heat.rename({"time": "t"})}, x="time")
    with pytest.raises(ValueError, match="facet splits one map"):
        plot_phase_diagram({"a": heat, "b": heat}, facet="beta")


def test_phase_diagram_of_a_dataset_averages_the_other_dimensions(tmp_path):
    rng = np.random.default_rng(1)
    ds = xr.Dataset(
        {
            "run_status": (("beta", "d", "seed"), np.full((2, 3, 4), "ok")),
            "p": (("beta", "d", "seed"), rng.random((2, 3, 4))),
        },
        coords={"beta": [1.0, 2.0], "d": [8, 64, 512], "seed": [5, 6, 7, 8]},
    )
    fig = plot_phase_diagram(ds, x="d", facet=None, contour=[0.5], path=tmp_path / "p.png")
    ax = fig.get_axes()[0]
    np.testing.assert_allclose(ax.collections[0].get_array().reshape(2, 3), ds["p"].mean("seed").values)
    assert fig._suptitle.get_text() == "p (mean over seed)"
    # Unevenly spaced d is drawn as equal cells labelled by value.
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "64", "512"]
    assert (tmp_path / "p.png").stat().st_size > 0
    faceted = plot_phase_diagram(ds, "p", x="seed", y="d", facet="beta")
    assert [a.get_title() for a in faceted.get_axes()[:2]] == ["β = 1.0", "β = 2.0"]
    fixed = plot_phase_diagram(ds, "p", x="seed", y="beta", sel={"d": 60})  # the nearest d is 64
    np.testing.assert_allclose(
        fixed.get_axes()[0].collections[0].get_array().reshape(2, 4), ds["p"].sel(d=64).values
    )
    with pytest.raises(KeyError, match="no variable 'q'"):
        plot_phase_diagram(ds, "q")
