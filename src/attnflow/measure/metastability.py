"""Metastability: plateaus of a time series (energy, cluster count) with their start, end and level."""

from __future__ import annotations

import numpy as np
import xarray as xr

from attnflow._validate import positive_number


def plateaus(series: xr.DataArray, rel_slope: float = 0.1, min_duration: float | None = None) -> xr.Dataset:
    """Find the plateaus of a 1-D series: maximal stretches where it is nearly flat, long enough to count.

    A sample is flat when ``|dy/dt| ≤ rel_slope · (max y − min y) / (t_end − t_start)``, i.e. when the
    series moves at most ``rel_slope`` times its average rate; the derivative is the second-order finite
    difference of :func:`numpy.gradient` on the series' own coordinate. A run of flat samples is a plateau
    when it lasts at least ``min_duration``. A constant series is one plateau.

    Args:
        series: a 1-D ``DataArray`` (e.g. :func:`energy_staircase` or ``clusters(...)["count"]``); its
            dimension coordinate is the time (sample indices if it has none).
        rel_slope: the flatness threshold relative to the average rate, > 0.
        min_duration: the shortest plateau, in units of the coordinate; default 5% of the span.

    Returns:
        A ``Dataset`` over dim ``"plateau"`` (in time order) with ``start``, ``end`` (coordinate values of
        the first and last flat sample), ``duration`` and ``level`` (the median of the series there).

    Raises:
        ValueError: ``series`` is not 1-D with at least 3 finite samples and increasing coordinates, or a
            threshold is not > 0.
    """
    if not isinstance(series, xr.DataArray) or series.ndim != 1:
        raise ValueError("series must be a 1-D xarray.DataArray (e.g. energy_staircase(traj, beta))")
    rel_slope = positive_number("rel_slope", rel_slope)
    dim = series.dims[0]
    y = np.asarray(series.values, dtype=np.float64)
    t = (
        np.asarray(series[dim].values, dtype=np.float64)
        if dim in series.coords
        else np.arange(y.size, dtype=float)
    )
    if y.size < 3 or not np.all(np.isfinite(y)):
        raise ValueError(f"series must hold at least 3 finite samples, got {y.size} samples")
    if not np.all(np.diff(t) > 0):
        raise ValueError(f"the coordinate {dim!r} of series must be strictly increasing")
    span = t[-1] - t[0]
    min_duration = 0.05 * span if min_duration is None else positive_number("min_duration", min_duration)
    height = y.max() - y.min()
    flat = np.abs(np.gradient(y, t)) <= rel_slope * height / span
    # Run boundaries: indices where flatness switches on or off.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flat.astype(np.int8), [0]))))
    found = [
        (t[a], t[b - 1], float(np.median(y[a:b])))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if b - a >= 2 and t[b - 1] - t[a] >= min_duration
    ]
    start, end, level = np.array(found, dtype=np.float64).reshape(-1, 3).T
    return xr.Dataset(
        {
            "start": ("plateau", start),
            "end": ("plateau", end),
            "duration": ("plateau", end - start),
            "level": ("plateau", level),
        },
        coords={"plateau": np.arange(len(found))},
        attrs={"rel_slope": rel_slope, "min_duration": min_duration, "of": str(series.name), "dim": dim},
    )
