"""A small (t, β) sweep into a resumable Zarr store, then its phase diagram.

Sweep workers are separate processes that import this script, so the sweep starts under the
``__main__`` guard (without it every worker would start the sweep again and die).

Run: python examples/gallery/sweep_phase.py OUT_DIR
"""

import sys
from pathlib import Path

from attnflow import sweep, viz


def main(out: Path) -> None:
    spec = sweep.SweepSpec.from_dict(
        {
            "name": "gallery phase diagram",
            "simulation": "self-attention",
            "seeds": 1,
            "measurements": [{"name": "fraction_close_pairs", "as": "close_pairs", "eps": 0.001}],
            "params": {"n": 8, "d": 3, "t_end": 4.0, "dt": 0.2, "save_every": 5},
            "grid": {"beta": [0.5, 4.0]},
        }
    )
    status = sweep.run(spec, out / "phase.zarr", sweep.ExecutorConfig(kind="local", workers=2))
    print(f"{status.done} runs done, {status.failed} failed")
    results = sweep.load_results(out / "phase.zarr")
    viz.plot_phase_diagram(results, var="close_pairs", x="time", y="beta", path=out / "phase.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/gallery"))
