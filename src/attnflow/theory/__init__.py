"""Theory in the open: closed forms and reduced ODEs that predict what simulations measure.

Nothing here imports a simulator or a measurement; experiments compare these predictions with
measurements made independently.

- :mod:`attnflow.theory.equiangular`: the one-ODE reduction ``γ(t)`` of an equiangular start, its hitting
  times and the phase curve ``γ_β(t) = 1 − δ``.
- :mod:`attnflow.theory.circle`: the mean-field linear growth rates ``λ_ℓ`` on the circle, the fastest mode
  ``ℓ*`` and a Dobrushin stability rate.
- :mod:`attnflow.theory.energy`: the dissipation identity ``dE_β/dt`` of the particle system.
- :mod:`attnflow.theory.normalization`: the equiangular reduction ``(ρ(t), r(t))`` under a normalisation
  scheme (post-LN, pre-LN, peri-LN, nGPT).
- :mod:`attnflow.theory.noisy`: noisy USA on the sphere: mode growth rates of the uniform state, the
  critical noise ``κ_#(β)`` and the tricritical ``β_*``.
- :mod:`attnflow.theory.merges`: the slow phase on the circle as weighted point masses, their merge
  sequence (SciPy) and the energy jump ``2 m_a m_b / n²``.
- :mod:`attnflow.theory.masks`: pure attention under a sliding-window mask near consensus: the
  per-layer collapse factor ``λ₂`` of the window's averaging matrix and its gap ``≈ w(w+1)π²/(6n²)``.
- :mod:`attnflow.theory.renyi`: the (strong) Rényi centres of a causally ordered cloud at separation
  ``δ = 4/√β``.
- :mod:`attnflow.theory.random_values`: two tokens under random value matrices: the limit diffusion of
  ``⟨x, y⟩``, the antipodal exponent and threshold ``cosh²β = (d − 1)/2``, the antipodal probability.
- :mod:`attnflow.theory.retrieval`: the first-order correlation closure of retrieval along a causal prompt
  with an ALiBi bias (lost in the middle).
- :mod:`attnflow.theory.leaders`: hardmax leaders and each token's chain of maximisers.
"""

from attnflow.theory import circle, energy, equiangular, noisy, normalization
from attnflow.theory.circle import dobrushin_rate, fastest_mode, growth_rate
from attnflow.theory.energy import energy_rate

__all__ = [
    "circle",
    "dobrushin_rate",
    "energy",
    "energy_rate",
    "equiangular",
    "fastest_mode",
    "growth_rate",
    "noisy",
    "normalization",
]
