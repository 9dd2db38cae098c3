"""The interaction energy E_β never decreases (Q = K = V = I); its normalised form climbs in steps.

Run: python examples/gallery/energy_staircase.py OUT_DIR
"""

import sys
from pathlib import Path

import attnflow as af


def main(out: Path) -> None:
    runs = {}
    for beta in (1.0, 9.0):
        x0 = af.init.uniform_sphere(n=32, d=3, seed=1)
        runs[f"β = {beta:g}"] = af.simulate(af.SelfAttention(beta=beta), x0, t_end=10.0, dt=0.2)
    energy = af.measure.energy(runs["β = 9"], beta=9.0)
    steps = energy.diff("time")
    print(f"smallest step of E_β (β = 9): {float(steps.min()):.3g} (never below rounding)")
    af.viz.plot_energy(runs, normalised=True, path=out / "staircase.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/gallery"))
