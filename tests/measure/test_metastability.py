import numpy as np
import pytest
import xarray as xr

from attnflow.measure.metastability import plateaus


def staircase() -> xr.DataArray:
    t = np.linspace(0, 30, 301)
    # Levels 0.2 on [0, 10), a ramp to 0.5 on [10, 11], 0.5 until 20, a ramp to 1 on [20, 21], then 1.
    y = np.interp(t, [0, 10, 11, 20, 21, 30], [0.2, 0.2, 0.5, 0.5, 1.0, 1.0])
    return xr.DataArray(y, dims=("time",), coords={"time": t}, name="energy_staircase")


def test_plateaus_of_a_staircase_have_the_right_start_end_and_level():
    out = plateaus(staircase())
    np.testing.assert_allclose(out["level"].values, [0.2, 0.5, 1.0])
    np.testing.assert_allclose(out["start"].values, [0.0, 11.1, 21.1], atol=1e-9)
    np.testing.assert_allclose(out["end"].values, [9.9, 19.9, 30.0], atol=1e-9)
    np.testing.assert_allclose(out["duration"].values, out["end"].values - out["start"].values)


def test_short_flat_stretches_are_not_plateaus_and_a_constant_is_one():
    out = plateaus(staircase(), min_duration=9.5)
    np.testing.assert_allclose(out["level"].values, [0.2])
    const = xr.DataArray(np.full(10, 3.0), dims=("layer",))
    one = plateaus(const)
    assert one.sizes["plateau"] == 1
    assert one["start"].item() == 0 and one["end"].item() == 9 and one["level"].item() == 3.0


def test_a_steady_ramp_has_no_plateau():
    ramp = xr.DataArray(np.linspace(0, 1, 50), dims=("time",), coords={"time": np.linspace(0, 5, 50)})
    assert plateaus(ramp).sizes["plateau"] == 0


def test_bad_series_are_rejected():
    with pytest.raises(ValueError, match="1-D"):
        plateaus(xr.DataArray(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="finite"):
        plateaus(xr.DataArray([0.0, np.nan, 1.0, 2.0]))
    with pytest.raises(ValueError, match="rel_slope"):
        plateaus(staircase(), rel_slope=0)
