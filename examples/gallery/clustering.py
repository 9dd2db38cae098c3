"""Tokens on the sphere S² cluster under self-attention: the cloud at four times and the cluster count.

Run: python examples/gallery/clustering.py OUT_DIR
"""

import sys
from pathlib import Path

import attnflow as af


def main(out: Path) -> None:
    x0 = af.init.uniform_sphere(n=48, d=3, seed=0)
    traj = af.simulate(af.SelfAttention(beta=9.0), x0, t_end=12.0, dt=0.2, method="rk4")
    counts = af.measure.clusters(traj)["count"]
    print(f"clusters at t = 0 and t = {traj.times[-1].item():g}: {int(counts[0])} → {int(counts[-1])}")
    af.viz.plot_cloud(traj, path=out / "cloud.png", title="SA, β = 9")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/gallery"))
