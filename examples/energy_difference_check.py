"""Why energy-monotone's former dissipation check failed at full size (SA, d = 2, β = 4): a measurement.

The former check compared the central difference D_h of E_β over saved RK4 states with the dissipation
identity and allowed |D_2h − D_h| (Richardson's estimate of D_h's truncation error) plus rounding. This
script splits D_h's error against the exact dE/dt (the chain rule at the saved state) into

* truncation along the exact flow: D_h of the energies of the exact flow through the state, at ± h (the
  "exact" flow is RK4 with 64 substeps, whose error is 64⁴ times smaller than one step's), minus dE/dt;
* RK4's share: D_h of the saved states minus D_h of the exact flow,

and compares each with the Richardson estimate. Run: ``python examples/energy_difference_check.py``.
"""

import numpy as np
import torch

from attnflow.dynamics import SelfAttention
from attnflow.experiments.clustering import chain_rule_rate, uniform_runs

VARIANT, DIM, BETA, STEP = "SA", 2, 4.0, 0.01
PARAMS = {"n": 32, "seeds": 16, "seed": 0, "t_end": 100 * STEP, "dt": STEP}
FIELD = SelfAttention(beta=BETA, variant=VARIANT)


def energy(x: torch.Tensor) -> np.ndarray:
    n = x.shape[-2]
    return (torch.exp(BETA * x @ x.transpose(-1, -2)).sum(dim=(-1, -2)) / (2 * BETA * n * n)).numpy()


def exact_flow(x: torch.Tensor, time: float, substeps: int = 64) -> torch.Tensor:
    """RK4 with ``substeps`` steps over ``time`` (negative: backwards), renormalised like the simulator."""
    s = time / substeps
    for _ in range(substeps):
        k1 = FIELD(0.0, x)
        k2 = FIELD(0.0, x + s / 2 * k1)
        k3 = FIELD(0.0, x + s / 2 * k2)
        k4 = FIELD(0.0, x + s * k3)
        x = x + s / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        x = x / x.norm(dim=-1, keepdim=True)
    return x


def main() -> None:
    states = np.stack([run.x.numpy() for run in uniform_runs(PARAMS, DIM, BETA, dtype="float64")])
    saved = np.stack([energy(torch.from_numpy(run)) for run in states])
    rate = chain_rule_rate(states, BETA, VARIANT)
    # Interior states 2 … T−3, where both D_h and D_2h exist.
    d_h = (saved[:, 3:-1] - saved[:, 1:-3]) / (2 * STEP)
    d_2h = (saved[:, 4:] - saved[:, :-4]) / (4 * STEP)
    richardson = np.abs(d_2h - d_h)
    inner = torch.from_numpy(states[:, 2:-2]).reshape(-1, *states.shape[-2:])
    forward, backward = exact_flow(inner, STEP), exact_flow(inner, -STEP)
    d_exact = ((energy(forward) - energy(backward)) / (2 * STEP)).reshape(d_h.shape)
    truncation = np.abs(d_exact - rate[:, 2:-2])
    rk4_share = np.abs(d_h - d_exact)
    print(f"{VARIANT}, d = {DIM}, β = {BETA:g}, n = {PARAMS['n']}, {PARAMS['seeds']} runs, h = {STEP}")
    error = np.abs(d_h - rate[:, 2:-2])
    print(f"largest |D_h − dE/dt| / Richardson estimate:        {np.max(error / richardson):.3g}")
    print(f"largest truncation along the exact flow / estimate: {np.max(truncation / richardson):.3g}")
    print(f"largest RK4 share / estimate:                       {np.max(rk4_share / richardson):.3g}")
    worst = np.unravel_index(np.argmax(truncation / richardson), richardson.shape)
    third = np.diff(rate[worst[0]], 2)[worst[1] : worst[1] + 3] / STEP**2
    print(f"d³E/dt³ around the worst state (one step apart): {np.array2string(third, precision=3)}")


if __name__ == "__main__":
    main()
