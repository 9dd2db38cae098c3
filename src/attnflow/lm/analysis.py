"""Everything ``attnflow trace`` computes, read from one recording: trajectory, decomposition, additivity
audit, lens, particle measures and the fitted dynamics, and their kind-marked stores."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from attnflow import io
from attnflow.lm.audit import audit
from attnflow.lm.lens import embedding_lens, logit_lens
from attnflow.lm.recording import Recording
from attnflow.lm.trace import decompose
from attnflow.measure.particles import fit_dynamics, particle_measures
from attnflow.trajectory import Trajectory


@dataclass(frozen=True, eq=False)
class TraceAnalysis:
    """The analyses of one :class:`~attnflow.lm.Recording` (no further forward pass was run).

    Attributes:
        recording: the recording they read.
        trajectory: the residual stream (with the state after attention when traced with sublayers).
        layers: the layer states ``0..L`` (the trajectory without sublayer states).
        decomposition: :func:`~attnflow.lm.decompose`.
        audit: :func:`~attnflow.lm.audit` (residual additivity and norm placement).
        lens: :func:`~attnflow.lm.logit_lens` read after every block and every attention sublayer for a
            causal LM, else :func:`~attnflow.lm.embedding_lens`.
        particles: :func:`~attnflow.measure.particle_measures` of the layer states.
        fit: :func:`~attnflow.measure.fit_dynamics` of the layer states.
    """

    recording: Recording
    trajectory: Trajectory
    layers: Trajectory
    decomposition: xr.Dataset
    audit: xr.Dataset
    lens: xr.Dataset
    particles: xr.Dataset
    fit: xr.Dataset

    def save(self, out: str | os.PathLike[str], *, recording: bool = False) -> list[Path]:
        """Write every result to ``out`` as a kind-marked store; return the paths written.

        ``trajectory.zarr`` (a trajectory store), ``decomposition.zarr``, ``audit.zarr``, ``lens.zarr``,
        ``particles.zarr`` and ``fit.zarr`` (dataset stores), and with ``recording=True``
        ``recording.zarr`` (a recording store). :func:`attnflow.load` reads each back.
        """
        out = Path(out)
        written = [self.trajectory.save(out / "trajectory.zarr")]
        for name in ("decomposition", "audit", "lens", "particles", "fit"):
            written.append(io.write_dataset(out / f"{name}.zarr", getattr(self, name)))
        if recording:
            written.append(self.recording.save(out / "recording.zarr"))
        return written


def analyse(recording: Recording, *, sublayers: bool = False, beta: float = 1.0) -> TraceAnalysis:
    """Every analysis of ``attnflow trace``, all reading ``recording`` (no forward pass of the model).

    Args:
        recording: a :func:`~attnflow.lm.record` with sublayers (and with logits for a causal LM).
        sublayers: put the state after each attention into the trajectory.
        beta: β of the energy ``E_β`` of the unit-normalised states.

    Returns:
        The :class:`TraceAnalysis`.
    """
    causal_lm = recording.causal and recording.logits is not None
    layers = recording.trajectory()
    return TraceAnalysis(
        recording=recording,
        trajectory=recording.trajectory(sublayers=sublayers) if sublayers else layers,
        layers=layers,
        decomposition=decompose(recording),
        audit=audit(recording),
        lens=logit_lens(recording, sublayers=True) if causal_lm else embedding_lens(recording),
        particles=particle_measures(layers, beta=beta),
        fit=fit_dynamics(layers),
    )
