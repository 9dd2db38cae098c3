"""Experiments: a claim from a paper, a computation that checks it, a verdict, and figures apart.

An :class:`Experiment` is declarative: a structured :class:`Citation` of the claim, typed parameters
(full-size defaults and the overrides that make the ``--quick`` size) and three steps:

- ``compute(params) -> values``: the numbers (numbers or numeric arrays by name, nested mappings
  allowed); what only the figures draw (trajectories, curves) goes under ``"figure"``, so that
  reports and sweeps keep the key numbers alone (:func:`key_values`);
- ``verdict(params, values) -> Verdict``: the prediction, the measurement and the judgement, from the
  values alone (so a stored sweep can be judged again);
- ``figures(params, values, out_dir) -> [paths]``: drawn by :mod:`attnflow.viz`, never needed by the
  verdict.

:meth:`Experiment.evaluate` runs the first two (what sweeps call); :meth:`Experiment.run` adds the figures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.trajectory import Trajectory

#: The name under which ``compute`` returns what only the figures draw (``values["figure.…"]``).
FIGURE_DATA = "figure"

#: The three verdicts: the measurement agrees with the prediction within the tolerance, it does not,
#: or the run cannot tell (too noisy, too small, or outside the claim's assumptions).
STATUSES = ("agrees", "disagrees", "inconclusive")


@dataclass(frozen=True)
class Citation:
    """Where a claim comes from: a paper and the place in it.

    Attributes:
        authors: the authors' full names, in the paper's order.
        title: the paper's title.
        year: the year of its first version.
        arxiv: its arXiv identifier (``"2312.10794"``), or ``None``.
        where: the theorem, figure or section that states the claim.
        note: anything a reader needs to find or interpret the claim in the paper.
        checked: what of ``where`` and the claim was compared with the paper's text, and against which
            copy; what could not be checked is said here, never left implicit.
    """

    authors: tuple[str, ...]
    title: str
    year: int
    arxiv: str | None = None
    where: str = ""
    note: str = ""
    checked: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "authors", tuple(self.authors))
        if not self.authors or not self.title:
            raise ValueError("a citation needs at least one author and a title")

    def at(self, where: str, note: str = "", checked: str = "") -> Citation:
        """The same paper, at another place (``where``) with its own ``note`` and ``checked``."""
        return replace(self, where=where, note=note, checked=checked)

    @property
    def paper(self) -> str:
        """The paper alone: ``Surname, Surname & Surname (year). Title. arXiv:id``."""
        surnames = [name.split()[-1] for name in self.authors]
        names = surnames[0] if len(surnames) == 1 else ", ".join(surnames[:-1]) + " & " + surnames[-1]
        arxiv = f" arXiv:{self.arxiv}" if self.arxiv else ""
        return f"{names} ({self.year}). {self.title}.{arxiv}"

    def __str__(self) -> str:
        """The paper, the place in it and the note: the form shown in reports and docs."""
        text = self.paper + (f"; {self.where}" if self.where else "")
        return text + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able mapping."""
        return {
            "authors": list(self.authors),
            "title": self.title,
            "year": self.year,
            "arxiv": self.arxiv,
            "where": self.where,
            "note": self.note,
            "checked": self.checked,
        }


@dataclass(frozen=True)
class Verdict:
    """The judgement of one evaluation.

    Attributes:
        status: ``"agrees"``, ``"disagrees"`` or ``"inconclusive"`` (see :data:`STATUSES`).
        prediction: the theory's prediction, with numbers where it has them.
        measured: the measured value, formatted for a person.
        tolerance: how agreement was judged (a number and what it bounds).
        notes: anything a reader needs to interpret the numbers.
    """

    status: str
    prediction: str
    measured: str
    tolerance: str
    notes: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @property
    def agrees(self) -> bool:
        """Whether the measurement agrees with the prediction."""
        return self.status == "agrees"


def status_of(agrees: bool) -> str:
    """``"agrees"`` or ``"disagrees"``: the status of a check whose tolerance already covers every source
    of error (exact identities, numerical precision), so that a failure cannot be low power."""
    return "agrees" if agrees else "disagrees"


def interval_status(low: float, high: float, accept_low: float, accept_high: float) -> str:
    """The verdict of an estimate known to lie in ``[low, high]`` (a confidence interval or a bound),
    against a prediction that accepts ``[accept_low, accept_high]``.

    ``"agrees"`` when the whole interval is accepted, ``"disagrees"`` when none of it is, and
    ``"inconclusive"`` when it straddles a boundary: the data cannot decide at this size.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        return "inconclusive"
    if accept_low <= low and high <= accept_high:
        return "agrees"
    if high < accept_low or low > accept_high:
        return "disagrees"
    return "inconclusive"


def positive_status(low: float, high: float) -> str:
    """The verdict on "the effect is positive" from its interval ``[low, high]``: ``"agrees"`` when the
    interval lies above 0, ``"disagrees"`` when it lies at or below 0 (an exact 0 is the rival "no effect"),
    ``"inconclusive"`` when it straddles 0 (the data cannot decide at this size)."""
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        return "inconclusive"
    return "agrees" if low > 0 else ("disagrees" if high <= 0 else "inconclusive")


def mean_interval(samples: Any, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of independent ``samples`` and its Student t confidence interval: ``(mean, low, high)``.

    Raises:
        ValueError: fewer than two samples, or a non-finite one.
    """
    from scipy import stats

    values = np.asarray(samples, dtype=float).ravel()
    if values.size < 2 or not np.isfinite(values).all():
        raise ValueError(f"a confidence interval needs at least two finite samples, got {values.size}")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def samples_to_decide(
    estimate: float, spread: float, edges: Sequence[float], level: float = 0.95, have: int = 1
) -> int | None:
    """How many independent samples would decide an inconclusive interval verdict, if the data held.

    An interval verdict is undecided while its interval straddles an edge of the accepted range. With the
    estimate and the per-sample spread (standard deviation) kept as measured, the Student t interval of
    ``m`` samples has half-width ``t(m − 1) · spread / √m``; this returns the smallest ``m`` above
    ``have`` at which it no longer reaches the nearest edge, or ``None`` when the estimate sits on an edge
    (then no size decides). The estimate and spread are themselves uncertain, so this is a guide to the
    size of a rerun, not a promise.
    """
    from scipy import stats

    distance = min(abs(estimate - edge) for edge in edges)
    if not (math.isfinite(distance) and math.isfinite(spread)) or distance <= 0:
        return None
    quantile = 0.5 + level / 2
    m = max(have + 1, 2, math.ceil((stats.norm.ppf(quantile) * spread / distance) ** 2))
    while stats.t.ppf(quantile, m - 1) * spread / math.sqrt(m) >= distance:  # t > z: a few steps up
        m += 1
    return m


def interval_samples_to_decide(
    low: float, high: float, have: int, edges: Sequence[float], level: float = 0.95
) -> int | None:
    """:func:`samples_to_decide` for a Student t interval ``[low, high]`` of ``have`` samples at ``level``
    (its centre, and the per-sample spread its width implies)."""
    from scipy import stats

    spread = (high - low) / 2 * math.sqrt(have) / stats.t.ppf(0.5 + level / 2, have - 1)
    return samples_to_decide((low + high) / 2, spread, edges, level, have)


def sign_test(differences: Any, alpha: float) -> tuple[str, float, float]:
    """Two one-sided sign tests over independent pairs: ``(status, p(increase), p(decrease))``.

    ``"agrees"`` when the increases are significant at ``alpha``, ``"disagrees"`` when the decreases are,
    ``"inconclusive"`` otherwise (ties are dropped). A sign test needs no model of the spread.
    """
    from scipy import stats

    differences = np.asarray(differences, dtype=float)
    up, down = int((differences > 0).sum()), int((differences < 0).sum())
    n = up + down
    p_up = float(stats.binomtest(up, n, 0.5, alternative="greater").pvalue) if n else 1.0
    p_down = float(stats.binomtest(down, n, 0.5, alternative="greater").pvalue) if n else 1.0
    status = "agrees" if p_up < alpha else "disagrees" if p_down < alpha else "inconclusive"
    return status, p_up, p_down


def sign_test_pairs_to_decide(differences: Any, alpha: float, limit: int = 100_000) -> int | None:
    """How many pairs would make the sign test of ``differences`` significant at ``alpha`` if the observed
    share of the more frequent direction held: the smallest ``m`` with an exact one-sided binomial p-value
    below ``alpha`` at ``⌈share · m⌉`` successes; ``None`` for equal shares (no size decides) or beyond
    ``limit``."""
    from scipy import stats

    differences = np.asarray(differences, dtype=float)
    up, down = int((differences > 0).sum()), int((differences < 0).sum())
    if up == down:
        return None
    share = max(up, down) / (up + down)
    sizes = np.arange(up + down + 1, limit + 1)
    significant = stats.binom.sf(np.ceil(share * sizes - 1e-9) - 1, sizes, 0.5) < alpha
    return int(sizes[significant.argmax()]) if significant.any() else None


def size_to_decide_text(size: int | None, unit: str) -> str:
    """What an inconclusive verdict says about the size that would decide it (from :func:`samples_to_decide`
    or :func:`sign_test_pairs_to_decide`), in one wording for every experiment."""
    if size is None:
        return f"no number of {unit} decides at the observed values (the estimate sits on an edge)"
    return f"about {size} {unit} would decide if the observed values held"


def sign_test_undecided_text(status: str, differences: Any, alpha: float, unit: str = "prompts") -> str:
    """The clause a sign-test verdict adds when undecided (``"; about N prompts would decide ..."``), empty
    when it decided."""
    if status != "inconclusive":
        return ""
    return f"; {size_to_decide_text(sign_test_pairs_to_decide(differences, alpha), unit)}"


def majority_status(outside: int, total: int) -> str:
    """The verdict on items that must each meet a prediction, from how many of ``total`` do not: none
    outside agrees, more than half outside disagrees (the prediction fails for most, not for a stray
    one), anything between is inconclusive."""
    return "agrees" if outside == 0 else "disagrees" if 2 * outside > total else "inconclusive"


def combine(*statuses: str) -> str:
    """One verdict from several checks: any disagreement disagrees, else any inconclusive is inconclusive."""
    for status in ("disagrees", "inconclusive"):
        if status in statuses:
            return status
    return "agrees"


@dataclass
class Evaluation:
    """What :meth:`Experiment.evaluate` found: the parameters, the values and the verdict.

    Attributes:
        params: the resolved parameters.
        values: the values by (dotted) name, numbers or numeric arrays.
        verdict: the verdict.
        seconds: wall-clock time of compute and verdict.
    """

    params: dict[str, Any]
    values: dict[str, Any]
    verdict: Verdict
    seconds: float


@dataclass
class ExperimentResult:
    """An :class:`Evaluation` of an experiment together with the figures drawn from it.

    Attributes:
        experiment: the experiment.
        params: the resolved parameters.
        values: the values by (dotted) name.
        verdict: the verdict.
        figures: paths of the figures written (PNG, or GIF for animations).
        seconds: wall-clock time of compute, verdict and figures.
        out_dir: the folder of the figures.
    """

    experiment: Experiment
    params: dict[str, Any]
    values: dict[str, Any]
    verdict: Verdict
    figures: list[Path]
    seconds: float
    out_dir: Path


Compute = Callable[[Mapping[str, Any]], Mapping[str, Any]]
Judge = Callable[[Mapping[str, Any], Mapping[str, Any]], Verdict]
Draw = Callable[[Mapping[str, Any], Mapping[str, Any], Path], list[Path]]


def no_figures(params: Mapping[str, Any], values: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """The ``figures`` step of an experiment that draws nothing."""
    return []


@dataclass(frozen=True)
class Experiment:
    """A named, declarative check of one claim.

    Attributes:
        name: short kebab-case name used on the command line (``attnflow reproduce NAME``).
        title: one-line human title.
        citation: where the claim comes from.
        claim: the claim in one or two sentences.
        defaults: parameters at full size; their types are the parameters' types.
        quick: overrides of ``defaults`` for the ``--quick`` size (tests use it; seconds, not minutes).
        compute: ``compute(params) -> values``.
        verdict: ``verdict(params, values) -> Verdict``, from the (flattened) values.
        figures: ``figures(params, values, out_dir) -> [paths]``.
    """

    name: str
    title: str
    citation: Citation
    claim: str
    defaults: Mapping[str, Any]
    quick: Mapping[str, Any]
    compute: Compute
    verdict: Judge
    figures: Draw = no_figures

    def __post_init__(self) -> None:
        if not isinstance(self.citation, Citation):
            raise TypeError(
                f"experiment {self.name!r}: citation must be a Citation, got {type(self.citation).__name__}"
            )
        unknown = set(self.quick) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"experiment {self.name!r}: quick overrides unknown parameters {sorted(unknown)}"
            )

    def params(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Resolve parameters: defaults, then the quick size if asked, then ``overrides``.

        Raises:
            ValueError: an override names a parameter the experiment does not have.
            TypeError: an override has a value of a different type than the default.
        """
        resolved = dict(self.defaults)
        if quick:
            resolved.update(self.quick)
        for key, value in (overrides or {}).items():
            if key not in self.defaults:
                raise ValueError(
                    f"experiment {self.name!r} has no parameter {key!r}; "
                    f"its parameters are {', '.join(sorted(self.defaults))}"
                )
            resolved[key] = _coerce(self.name, key, value, self.defaults[key])
        return resolved

    def evaluate(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> Evaluation:
        """Compute the values and the verdict (no figures): what sweeps run.

        Raises:
            TypeError: ``compute`` returned a value that is not numeric, or ``verdict`` no Verdict.
        """
        params = self.params(quick=quick, overrides=overrides)
        start = time.perf_counter()
        values = flatten_values(self.compute(params))
        verdict = self.verdict(params, values)
        if not isinstance(verdict, Verdict):
            raise TypeError(
                f"experiment {self.name!r}: verdict must return a Verdict, got {type(verdict).__name__}"
            )
        return Evaluation(params, values, verdict, time.perf_counter() - start)

    def run(
        self,
        out_dir: str | Path,
        quick: bool = False,
        overrides: Mapping[str, Any] | None = None,
    ) -> ExperimentResult:
        """Evaluate, then draw the figures under ``out_dir``."""
        evaluation = self.evaluate(quick=quick, overrides=overrides)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        figures = [Path(f) for f in self.figures(evaluation.params, evaluation.values, out)]
        seconds = evaluation.seconds + time.perf_counter() - start
        return ExperimentResult(
            self, evaluation.params, evaluation.values, evaluation.verdict, figures, seconds, out
        )


def flatten_values(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings become dotted names (``{"rates": {"SA": 1.0}}`` → ``{"rates.SA": 1.0}``).

    Raises:
        TypeError: a leaf is not a number or a numeric array (the forms sweeps store and reports print).
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_values(value, f"{name}."))
        elif np.asarray(value).dtype.kind in "biuf":
            flat[name] = value
        else:
            raise TypeError(
                f"values[{name!r}] must be a number, a numeric array or a mapping of them, "
                f"got {type(value).__name__}"
            )
    return flat


def key_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The (flattened) values without the figure data: what reports and sweeps keep."""
    return {k: v for k, v in values.items() if not k.startswith(f"{FIGURE_DATA}.")}


def trajectory_values(traj: Trajectory) -> dict[str, np.ndarray]:
    """A trajectory as values (``{"times": …, "x": …}``) for a figure step to redraw."""
    return {"times": traj.times.numpy(), "x": traj.x.cpu().numpy()}


def trajectory_from(values: Mapping[str, Any], name: str) -> Trajectory:
    """The trajectory stored by :func:`trajectory_values` under ``name`` in flattened values."""
    return Trajectory(
        torch.as_tensor(np.asarray(values[f"{name}.times"])), torch.as_tensor(np.asarray(values[f"{name}.x"]))
    )


def _coerce(experiment: str, key: str, value: Any, default: Any) -> Any:
    """Check an override against the default's type (ints may stand for floats; lists stay lists)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool | np.bool_)
    elif isinstance(default, int):
        ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = math.isfinite(value)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple)
        value = list(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise TypeError(
            f"experiment {experiment!r}: parameter {key!r} must be like its default "
            f"{default!r} ({type(default).__name__}), got {value!r}"
        )
    return value


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry used by :func:`attnflow.experiments.reproduce` and sweeps."""
    if experiment.name in _REGISTRY:
        raise ValueError(f"an experiment named {experiment.name!r} is already registered")
    _REGISTRY[experiment.name] = experiment
    return experiment


def unregister(name: str) -> Experiment:
    """Remove the experiment called ``name`` from the registry and return it (for temporary experiments)."""
    try:
        return _REGISTRY.pop(name)
    except KeyError:
        raise KeyError(f"no experiment named {name!r} is registered") from None


def get(name: str) -> Experiment:
    """The registered experiment called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown experiment {name!r}; available: {', '.join(sorted(_REGISTRY)) or '(none)'}"
        ) from None


def available() -> list[str]:
    """Names of all registered experiments, in registration order."""
    return list(_REGISTRY)
