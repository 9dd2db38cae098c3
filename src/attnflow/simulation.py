"""The one simulation schema: a field spec, a start spec and an integrator spec, validated and JSON-able.

The command line (``attnflow simulate``), sweeps (``simulation: self-attention``) and the experiments all
describe a particle simulation with a :class:`Simulation`; ``simulate(spec)`` runs it. Flat parameter
names (:data:`PARAMETERS`) are what a sweep grid and a CLI flag set; :meth:`Simulation.from_flat`
and :meth:`Simulation.to_flat` convert.

```python
from attnflow import Simulation, simulate
spec = Simulation.from_flat({"n": 128, "d": 3, "beta": 4.0, "t_end": 20.0})
traj = simulate(spec)
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from attnflow import init
from attnflow._validate import dtype_of, finite_number, one_of, positive_int, positive_number
from attnflow.dynamics import GEOMETRIES, NORMALIZATIONS, VARIANTS, Normalized, SelfAttention
from attnflow.dynamics.attention import _sink_of, window_width
from attnflow.dynamics.ensembles import ENSEMBLES, VALUES, ResampledWeights, draw_weights
from attnflow.dynamics.normalization import ON_SPHERE
from attnflow.random import SEED_POLICY, Seed, check_seed, spawn

# State bytes per batched pass of Simulation.run_betas, about an L2 cache: timing one SA field evaluation
# of 96 runs of n = 32 (one thread, a loaded machine) in batches of 4 ... 96 runs, those of at most
# 512 KiB were the fastest at d = 8 and 128, and at d = 1024 every batch over 512 KiB was slower than
# batches of 4 (benchmarks/bench_batched.py times the whole runs).
_PASS_BYTES = 512 * 1024

#: Initial conditions, named after the :mod:`attnflow.init` functions that draw them.
STARTS = ("uniform_sphere", "orthogonal", "antipodal_pair", "file")
#: Attention weights: identities, or per-head draws of Q, K (and V) from a named ensemble
#: (:mod:`attnflow.dynamics.ensembles`; ``"random"`` is Gaussian with N(0, 1/d) entries).
WEIGHTS = ENSEMBLES


@dataclass(frozen=True)
class FieldSpec:
    """The vector field: self-attention with its options (see :class:`attnflow.SelfAttention`).

    ``normalization`` and ``residual_scale`` choose a normalisation scheme around the attention
    (:class:`attnflow.dynamics.Normalized`); the default ``"post"`` with scale 1 is the plain
    ``SelfAttention`` on the sphere.
    """

    beta: float = 1.0
    variant: str = "SA"
    geometry: str = "sphere"
    causal: bool = False
    heads: int = 1
    weights: str = "identity"
    value: str = "ensemble"
    resample: float = 0.0
    normalization: str = "post"
    residual_scale: float = 1.0
    alibi: float = 0.0
    window: int = 0
    #: The score b of a sink (BOS) token every query sees, with value 0 (``None``: no sink).
    sink: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", finite_number("beta", self.beta))
        one_of("variant", self.variant, VARIANTS)
        one_of("geometry", self.geometry, GEOMETRIES)
        _boolean("causal", self.causal)
        positive_int("heads", self.heads)
        one_of("weights", self.weights, WEIGHTS)
        one_of("value", self.value, VALUES)
        object.__setattr__(self, "resample", finite_number("resample", self.resample))
        if self.resample < 0:
            raise ValueError(
                f"resample must be a layer length >= 0 (0: fixed weights), got {self.resample!r}"
            )
        one_of("normalization", self.normalization, NORMALIZATIONS)
        object.__setattr__(self, "residual_scale", positive_number("residual_scale", self.residual_scale))
        object.__setattr__(self, "alibi", finite_number("alibi", self.alibi))
        if self.alibi < 0 or (self.alibi and self.variant == "sinkhorn"):
            raise ValueError(f"alibi must be a slope >= 0 (not with variant 'sinkhorn'), got {self.alibi!r}")
        window_width(self.window)
        if self.window and self.variant == "sinkhorn":
            raise ValueError(f"window is not supported with variant 'sinkhorn', got window={self.window}")
        object.__setattr__(self, "sink", _sink_of(self.sink, None, self.variant, "auto")[0])
        if self.geometry != "sphere" and (self.normalization != "post" or self.residual_scale != 1.0):
            raise ValueError(
                "normalization and residual_scale act on tokens with directions on the sphere; "
                f"they need geometry 'sphere', got {self.geometry!r}"
            )

    def build(
        self, d: int, seed: Seed, dtype: torch.dtype, device: str, beta: torch.Tensor | None = None
    ) -> SelfAttention | Normalized:
        """The field for tokens in ``R^d``; random weights are drawn from ``seed``.

        ``beta``, a 1-dim tensor, replaces the spec's β with one β per run of a batch (see
        :class:`attnflow.SelfAttention`).
        """
        if self.resample > 0:
            layers = ResampledWeights(
                self.weights, self.value, self.heads, d, seed, self.resample, dtype, device
            )
            Q, K, V = layers.Q, layers.K, layers.V
        else:
            Q, K, V = (
                None if w is None else w.to(dtype=dtype, device=device)
                for w in draw_weights(self.weights, self.value, self.heads, d, seed)
            )
        plain = self.normalization == "post" and self.residual_scale == 1.0
        attention = SelfAttention(
            self.beta if beta is None else beta,
            self.variant,
            # A normalisation scheme reads the raw attention output and normalises it itself.
            self.geometry if plain else "euclidean",
            Q=Q,
            K=K,
            V=V,
            causal=self.causal,
            heads=self.heads,
            alibi=self.alibi,
            window=self.window,
            sink=self.sink,
        )
        if plain:
            return attention
        return Normalized(attention, self.normalization, self.residual_scale)


@dataclass(frozen=True)
class StartSpec:
    """The initial cloud: ``kind`` names the :mod:`attnflow.init` sampler (or ``"file"`` with ``path``)."""

    kind: str = "uniform_sphere"
    n: int = 32
    d: int = 3
    path: str | None = None

    def __post_init__(self) -> None:
        one_of("start", self.kind, STARTS)
        positive_int("d", self.d, minimum=2)
        if self.kind == "antipodal_pair":
            object.__setattr__(self, "n", 2)
        positive_int("n", self.n, minimum=1)
        if self.kind == "orthogonal" and self.d < self.n:
            raise ValueError(f"start 'orthogonal' needs d >= n, got n={self.n}, d={self.d}")
        if self.kind == "file":
            if not self.path:
                raise ValueError("start 'file' needs start_file (a .npy, .pt or Trajectory store)")
            object.__setattr__(self, "path", str(self.path))
        elif self.path is not None:
            raise ValueError(f"start_file is only used with start 'file', not {self.kind!r}")

    def build(
        self, seed: Seed, dtype: torch.dtype, device: str, normalize: bool, batch: int | None = None
    ) -> torch.Tensor:
        """Draw the start (``batch`` independent clouds for ``uniform_sphere`` if given)."""
        if self.kind == "uniform_sphere":
            return init.uniform_sphere(self.n, self.d, seed=seed, batch=batch, dtype=dtype, device=device)
        if batch is not None:
            raise ValueError(f"replicates need a random start; start {self.kind!r} is deterministic")
        if self.kind == "orthogonal":
            return init.orthogonal(self.n, self.d, seed=seed, dtype=dtype, device=device)
        if self.kind == "antipodal_pair":
            return init.antipodal_pair(self.d, dtype=dtype, device=device)
        return init.from_file(Path(self.path), normalize=normalize, dtype=dtype, device=device)


@dataclass(frozen=True)
class IntegratorSpec:
    """How to integrate: the method, horizon, step, saving, the adaptive tolerances and the noise.

    ``noise`` (``κ``) and ``common_noise`` (``κ₀``) add independent and shared Brownian noise
    (:func:`attnflow.integrate.stochastic.integrate_sde`); a noisy run needs ``method="euler"``, which is
    then Euler–Maruyama with retraction.
    """

    method: str = "rk4"
    t_end: float = 10.0
    dt: float = 0.1
    save_every: int = 1
    rtol: float = 1e-6
    atol: float = 1e-8
    noise: float = 0.0
    common_noise: float = 0.0

    def __post_init__(self) -> None:
        from attnflow.integrate import METHODS

        one_of("method", self.method, METHODS)
        object.__setattr__(self, "t_end", positive_number("t_end", self.t_end))
        object.__setattr__(self, "dt", positive_number("dt", self.dt))
        if self.dt > self.t_end:
            raise ValueError(f"dt must be <= t_end ({self.t_end!r}), got {self.dt!r}")
        positive_int("save_every", self.save_every)
        object.__setattr__(self, "rtol", positive_number("rtol", self.rtol))
        object.__setattr__(self, "atol", positive_number("atol", self.atol))
        for name in ("noise", "common_noise"):
            value = finite_number(name, getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            object.__setattr__(self, name, value)
        if self.noisy and self.method != "euler":
            raise ValueError(
                f"noise needs method 'euler' (Euler–Maruyama with retraction), got method {self.method!r}"
            )

    @property
    def noisy(self) -> bool:
        """Whether the run is stochastic (``noise`` or ``common_noise`` above 0)."""
        return self.noise > 0 or self.common_noise > 0


# Flat name -> (section, attribute): what a sweep grid or a CLI flag sets.
_FLAT = {
    **{f.name: ("field", f.name) for f in fields(FieldSpec)},
    "start": ("start", "kind"),
    "n": ("start", "n"),
    "d": ("start", "d"),
    "start_file": ("start", "path"),
    **{f.name: ("integrator", f.name) for f in fields(IntegratorSpec)},
    "seed": (None, "seed"),
    "dtype": (None, "dtype"),
    "device": (None, "device"),
}


@dataclass(frozen=True)
class Simulation:
    """A complete, validated description of one particle simulation.

    Attributes:
        field: the vector field.
        start: the initial cloud.
        integrator: the integration.
        seed: the one seed of the run; the start is drawn from it, random weights from its first child and
            the noise of a noisy run from its second (:func:`attnflow.random.spawn`).
        dtype: ``"float32"`` or ``"float64"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    """

    field: FieldSpec = dataclasses.field(default_factory=FieldSpec)
    start: StartSpec = dataclasses.field(default_factory=StartSpec)
    integrator: IntegratorSpec = dataclasses.field(default_factory=IntegratorSpec)
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name, kind in (("field", FieldSpec), ("start", StartSpec), ("integrator", IntegratorSpec)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        check_seed(self.seed)
        dtype_of(self.dtype)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {self.device!r}")

    @classmethod
    def from_flat(cls, params: Mapping[str, Any]) -> Simulation:
        """Build from flat names (:data:`PARAMETERS`); missing names take their defaults.

        Raises:
            ValueError: an unknown name (the message lists the known ones), or a bad value.
        """
        unknown = sorted(set(params) - set(_FLAT))
        if unknown:
            raise ValueError(
                f"unknown simulation parameter(s) {unknown}; the parameters are {', '.join(_FLAT)}"
            )
        sections: dict[str | None, dict[str, Any]] = {"field": {}, "start": {}, "integrator": {}, None: {}}
        for name, value in params.items():
            section, attribute = _FLAT[name]
            sections[section][attribute] = value
        return cls(
            field=FieldSpec(**sections["field"]),
            start=StartSpec(**sections["start"]),
            integrator=IntegratorSpec(**sections["integrator"]),
            **sections[None],
        )

    def to_flat(self) -> dict[str, Any]:
        """Flat names and values (the inverse of :meth:`from_flat`)."""
        out = {}
        for name, (section, attribute) in _FLAT.items():
            owner = self if section is None else getattr(self, section)
            out[name] = getattr(owner, attribute)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Nested, JSON-able form: ``{"field": {...}, "start": {...}, "integrator": {...}, "seed": …}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Simulation:
        """Inverse of :meth:`to_dict` (flat dicts are accepted too)."""
        if not any(isinstance(v, Mapping) for v in data.values()):
            return cls.from_flat(data)
        return cls(
            field=FieldSpec(**data.get("field", {})),
            start=StartSpec(**data.get("start", {})),
            integrator=IntegratorSpec(**data.get("integrator", {})),
            **{k: v for k, v in data.items() if k not in ("field", "start", "integrator")},
        )

    def replace(self, **flat: Any) -> Simulation:
        """A copy with some flat parameters changed (validated again)."""
        return Simulation.from_flat({**self.to_flat(), **flat})

    def check_budget(self, replicates: int | None = None) -> None:
        """Refuse a run over the default work or kept-state memory bounds before anything is drawn.

        See :func:`attnflow.integrate.solvers.check_budget`. A ``file`` start's size is known only once
        the file is read; :func:`~attnflow.integrate.solvers.integrate` checks it then.

        Raises:
            ValueError: over a bound; the message gives the estimate and what to change.
        """
        from attnflow.integrate.solvers import check_budget

        if self.start.kind == "file":
            return
        spec = self.integrator
        check_budget(
            self.start.n,
            self.start.d,
            replicates or 1,
            dtype_of(self.dtype).itemsize,
            t_end=spec.t_end,
            dt=spec.dt,
            method=spec.method,
            save_every=spec.save_every,
        )

    def run(self, progress: Any = False, replicates: int | None = None) -> Any:
        """Draw the start, build the field and integrate.

        Args:
            progress: see :func:`attnflow.progress.resolve`.
            replicates: integrate this many independent starts in one batch (``uniform_sphere`` only).

        Returns:
            A :class:`~attnflow.Trajectory`, or a list of them with ``replicates``.
        """
        from attnflow._validate import device_of
        from attnflow.integrate.solvers import integrate

        self.check_budget(replicates)
        dtype = dtype_of(self.dtype)
        device = device_of(self.device)
        spec = self.integrator
        x0 = self.start.build(
            self.seed,
            dtype,
            device,
            normalize=self.field.geometry == "sphere" and self.field.normalization in ON_SPHERE,
            batch=replicates,
        )
        # Children by index: the weights keep child 0 whether or not the run is noisy.
        weights_seed, noise_seed = spawn(self.seed, 2)
        vector_field = self.field.build(x0.shape[-1], weights_seed, dtype, device)
        stored = {"simulation": self.to_dict(), "seed": self.seed, "seed_policy": SEED_POLICY}
        if spec.noisy:
            from attnflow.integrate.stochastic import integrate_sde

            return integrate_sde(
                vector_field,
                x0,
                t_end=spec.t_end,
                dt=spec.dt,
                noise=spec.noise,
                common_noise=spec.common_noise,
                seed=noise_seed,
                save_every=spec.save_every,
                progress=progress,
                params=stored,
            )
        return integrate(
            vector_field,
            x0,
            t_end=spec.t_end,
            dt=spec.dt,
            method=spec.method,
            save_every=spec.save_every,
            rtol=spec.rtol,
            atol=spec.atol,
            progress=progress,
            params=stored,
        )

    @property
    def batches_over_beta(self) -> bool:
        """Whether :meth:`run_betas` takes this run: noiseless, fixed-step and not Sinkhorn, so a batch over
        β gives each β's own numbers (``dopri5`` shares its step sizes across a batch; noise is drawn per
        batch; Sinkhorn iterates until the slowest run of the batch has converged)."""
        return (
            not self.integrator.noisy
            and self.integrator.method != "dopri5"
            and self.field.variant != "sinkhorn"
        )

    def run_betas(
        self, betas: Sequence[float], progress: Any = False, replicates: int | None = None
    ) -> list[Any]:
        """The spec at each β of ``betas`` (the spec's own β aside), integrated together in batches.

        The runs (every β, every replicate) go through the integrator in batched passes of up to
        :data:`_PASS_BYTES` of state each (all in one pass for small clouds); where a pass would hold no
        more than one β's runs, each β runs on its own.

        Entry ``k`` is what ``self.replace(beta=betas[k]).run(replicates=replicates)`` returns, up to
        float rounding: every β gets the same starts and weights (the same draws from ``seed``), and a
        batched step of a fixed-step method is the runs' own steps. One batched pass costs less than a
        loop of runs wherever a run alone leaves the machine idle (small ``n``, many runs).

        Raises:
            ValueError: ``betas`` is empty or holds a non-finite value, or the run is adaptive
                (``dopri5`` shares its step sizes across a batch) or noisy (the noise is drawn for the
                whole batch), which would change the numbers; or the batch is over the budget.
        """
        from attnflow._validate import device_of
        from attnflow.integrate.solvers import integrate

        if isinstance(betas, str) or not hasattr(betas, "__iter__"):
            raise TypeError(f"betas must be a sequence of numbers, got {betas!r}")
        specs = [self.replace(beta=beta) for beta in betas]
        if not specs:
            raise ValueError("betas must hold at least one value")
        spec = self.integrator
        if not self.batches_over_beta:
            raise ValueError(
                "run_betas batches noiseless fixed-step runs (method 'euler' or 'rk4', not variant "
                "'sinkhorn'); got "
                + (
                    "a noisy run"
                    if spec.noisy
                    else "method 'dopri5'"
                    if spec.method == "dopri5"
                    else "Sinkhorn"
                )
                + ", whose numbers would depend on the batch: run each beta alone"
            )
        runs = replicates or 1
        self.check_budget(len(specs) * runs)
        dtype, device = dtype_of(self.dtype), device_of(self.device)
        on_sphere = self.field.geometry == "sphere" and self.field.normalization in ON_SPHERE
        x0 = self.start.build(self.seed, dtype, device, normalize=on_sphere, batch=replicates)
        # Runs per pass: a pass's states stay in the cache (larger batches ran slower than a loop).
        per_pass = max(1, _PASS_BYTES // (x0[0].numel() * x0.element_size()))
        if per_pass <= runs:  # a pass would not hold more than one β's runs: nothing to gain
            return [one.run(progress=progress, replicates=replicates) for one in specs]
        starts = (x0 if replicates else x0.unsqueeze(0)).repeat(len(specs), 1, 1)  # run k·runs + r
        betas_of_runs = torch.tensor([s.field.beta for s in specs], dtype=dtype).repeat_interleave(runs)
        weights_seed, _ = spawn(self.seed, 2)
        stored = {"seed": self.seed, "seed_policy": SEED_POLICY}
        trajs = []
        for first in range(0, starts.shape[0], per_pass):
            chosen = slice(first, first + per_pass)
            field = self.field.build(
                x0.shape[-1], weights_seed, dtype, device, betas_of_runs[chosen].to(device)
            )
            trajs += integrate(
                field,
                starts[chosen],
                t_end=spec.t_end,
                dt=spec.dt,
                method=spec.method,
                save_every=spec.save_every,
                progress=progress,
                params=stored,
            )
        out: list[Any] = []
        for k, one in enumerate(specs):
            group = []
            for r in range(runs):
                traj = trajs[k * runs + r]
                # The params one.run() stores: its own spec, and the index within its own replicates.
                params = {**traj.params, "simulation": one.to_dict()}
                params.pop("batch_index")
                if replicates:
                    params["batch_index"] = r
                group.append(dataclasses.replace(traj, params=params))
            out.append(group if replicates else group[0])
        return out


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


#: The flat parameter names of a :class:`Simulation` and their defaults.
PARAMETERS: dict[str, Any] = Simulation().to_flat()


__all__ = ["PARAMETERS", "STARTS", "WEIGHTS", "FieldSpec", "IntegratorSpec", "Simulation", "StartSpec"]
