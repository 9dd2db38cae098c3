"""``attnflow simulate`` and ``attnflow demo``: run the self-attention particle dynamics.

The flags of ``simulate`` are the flat parameters of :class:`attnflow.Simulation` (the names a sweep grid
uses), with its defaults and choices; the command builds the Simulation, runs it and saves the result.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from attnflow._validate import DTYPES
from attnflow.dynamics import GEOMETRIES, NORMALIZATIONS, VARIANTS
from attnflow.dynamics.ensembles import VALUES
from attnflow.integrate import METHODS
from attnflow.simulation import PARAMETERS, STARTS, WEIGHTS

console = Console()


def _choices(name: str, values: tuple[str, ...] | list[str]) -> type[Enum]:
    """The library's own choices as a typer choice type, so the command line cannot drift from it."""
    return Enum(name, {value: value for value in values}, type=str)


Variant = _choices("Variant", VARIANTS)
Geometry = _choices("Geometry", GEOMETRIES)
Method = _choices("Method", METHODS)
Start = _choices("Start", STARTS)
Weights = _choices("Weights", WEIGHTS)
Value = _choices("Value", VALUES)
Normalization = _choices("Normalization", NORMALIZATIONS)
Precision = _choices("Precision", list(DTYPES))


def _summary(traj, beta: float) -> Table:
    from attnflow.measure import clusters, energy

    table = Table(title="run summary", show_header=True)
    table.add_column("quantity")
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    counts = clusters(traj[[0, -1]])["count"].values
    table.add_row("clusters", str(int(counts[0])), str(int(counts[-1])))
    if beta != 0:
        e = energy(traj[[0, -1]], beta).values
        table.add_row("energy E_β", f"{e[0]:.6g}", f"{e[-1]:.6g}")
    return table


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``demo`` to the command line."""

    @app.command()
    def simulate(
        out: Annotated[Path, typer.Option(help="Zarr store to write the Trajectory to.")],
        n: Annotated[int, typer.Option(help="Number of tokens.")] = PARAMETERS["n"],
        d: Annotated[int, typer.Option(help="Dimension of the token space.")] = PARAMETERS["d"],
        beta: Annotated[float, typer.Option(help="Inverse temperature β (β < 0: repulsive).")] = PARAMETERS[
            "beta"
        ],
        variant: Annotated[Variant, typer.Option(help="Attention normalisation.")] = PARAMETERS["variant"],
        geometry: Annotated[Geometry, typer.Option(help="sphere (LayerNorm) or euclidean.")] = PARAMETERS[
            "geometry"
        ],
        causal: Annotated[bool, typer.Option(help="Token k attends only to tokens j <= k.")] = PARAMETERS[
            "causal"
        ],
        heads: Annotated[int, typer.Option(help="Number of attention heads.")] = PARAMETERS["heads"],
        weights: Annotated[
            Weights,
            typer.Option(help="identity Q = K = V, or per-head Q, K from an ensemble (random: N(0, 1/d))."),
        ] = PARAMETERS["weights"],
        value: Annotated[
            Value, typer.Option(help="V: ensemble, identity, qk, -qk or gaussian.")
        ] = PARAMETERS["value"],
        resample: Annotated[
            float, typer.Option(help="Redraw the weights every layer of this length (0: fixed).")
        ] = PARAMETERS["resample"],
        normalization: Annotated[
            Normalization, typer.Option(help="post, pre, peri or ngpt (docs/dynamics.md).")
        ] = PARAMETERS["normalization"],
        residual_scale: Annotated[
            float, typer.Option(help="Residual strength (1/sqrt(L): depth-scaled).")
        ] = PARAMETERS["residual_scale"],
        alibi: Annotated[float, typer.Option(help="ALiBi slope m: scores − m|i − j|.")] = PARAMETERS["alibi"],
        window: Annotated[
            int, typer.Option(help="Sliding window w: attend to |i − j| <= w (0: no window).")
        ] = PARAMETERS["window"],
        sink: Annotated[
            float | None,
            typer.Option(help="Sink (BOS) token's score b: one more key every query sees, value 0."),
        ] = PARAMETERS["sink"],
        start: Annotated[Start, typer.Option(help="Initial condition.")] = PARAMETERS["start"],
        start_file: Annotated[
            Path | None, typer.Option(help="With --start file: a .npy, .pt or Trajectory store.")
        ] = PARAMETERS["start_file"],
        t_end: Annotated[float, typer.Option(help="Final time.")] = PARAMETERS["t_end"],
        dt: Annotated[float, typer.Option(help="Step (first trial step for dopri5).")] = PARAMETERS["dt"],
        method: Annotated[Method, typer.Option(help="Integrator.")] = PARAMETERS["method"],
        save_every: Annotated[int, typer.Option(help="Keep every k-th step.")] = PARAMETERS["save_every"],
        rtol: Annotated[float, typer.Option(help="dopri5 relative tolerance.")] = PARAMETERS["rtol"],
        atol: Annotated[float, typer.Option(help="dopri5 absolute tolerance.")] = PARAMETERS["atol"],
        noise: Annotated[
            float, typer.Option(help="Independent noise κ (needs --method euler).")
        ] = PARAMETERS["noise"],
        common_noise: Annotated[
            float, typer.Option(help="Noise κ₀ shared by all tokens (needs --method euler).")
        ] = PARAMETERS["common_noise"],
        seed: Annotated[
            int, typer.Option(help="Seed of the start (random weights: its first spawned child).")
        ] = PARAMETERS["seed"],
        dtype: Annotated[Precision, typer.Option(help="Floating-point precision.")] = PARAMETERS["dtype"],
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = PARAMETERS["device"],
        plot: Annotated[bool, typer.Option(help="Also write figures next to the store.")] = False,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
        overwrite: Annotated[
            bool, typer.Option(help="Replace a trajectory store at --out (never other files).")
        ] = False,
    ) -> None:
        """Simulate self-attention dynamics and save the Trajectory (and figures with --plot)."""
        from attnflow import io
        from attnflow.simulation import Simulation

        # Refuse before the work, not after it: an existing --out is replaced only with --overwrite, and
        # only if it is a trajectory store.
        if not overwrite and out.exists():
            raise io.StoreExistsError(f"{out} already exists; pass --overwrite to replace a trajectory store")
        io.check_replaceable(out, "trajectory")

        flat = {
            "n": n,
            "d": d,
            "beta": beta,
            "variant": variant.value,
            "geometry": geometry.value,
            "causal": causal,
            "heads": heads,
            "weights": weights.value,
            "value": value.value,
            "resample": resample,
            "normalization": normalization.value,
            "residual_scale": residual_scale,
            "alibi": alibi,
            "window": window,
            "sink": sink,
            "start": start.value,
            "start_file": None if start_file is None else str(start_file),
            "t_end": t_end,
            "dt": dt,
            "method": method.value,
            "save_every": save_every,
            "rtol": rtol,
            "atol": atol,
            "noise": noise,
            "common_noise": common_noise,
            "seed": seed,
            "dtype": dtype.value,
            "device": device,
        }
        traj = Simulation.from_flat(flat).run(progress=progress).to("cpu")
        traj.save(out)
        console.print(_summary(traj, beta))
        console.print(f"trajectory: [bold]{out}[/bold]")
        if plot:
            with console.status("rendering the figures (PNG, SVG, PDF) …"):
                figures = _figures(traj, out.with_suffix(""), beta)
            for figure in figures:
                console.print(f"figure:     [bold]{figure}[/bold]")

    @app.command()
    def demo(
        out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/demo"),
        n: Annotated[int, typer.Option(min=2, help="Number of tokens.")] = 64,
        t_end: Annotated[float, typer.Option(help="Final time.")] = 30.0,
    ) -> None:
        """Tokens on the sphere S² cluster under self-attention: β = 1 and β = 9, figures and data."""
        from attnflow.simulation import Simulation
        from attnflow.viz import animate_cloud, plot_cloud, plot_energy

        out.mkdir(parents=True, exist_ok=True)
        runs = {}
        for beta in (1.0, 9.0):
            console.print(f"simulating n={n} tokens on S², SA, β={beta:g}, t ∈ [0, {t_end:g}] ...")
            spec = Simulation.from_flat(
                {"n": n, "d": 3, "beta": beta, "t_end": t_end, "dt": 0.05, "save_every": 4, "seed": 0}
            )
            traj = spec.run(progress=True)
            path = traj.save(out / f"beta{beta:g}.zarr")
            console.print(_summary(traj, beta))
            console.print(f"trajectory: [bold]{path}[/bold]")
            times = [0.0, t_end / 10, t_end / 3, t_end]
            console.print(f"rendering the token cloud at {len(times)} times (PNG, SVG, PDF) ...")
            plot_cloud(traj, times=times, path=out / f"cloud_beta{beta:g}.png", title=f"SA, β = {beta:g}")
            runs[f"β = {beta:g}"] = traj
        console.print("rendering the energy staircase ...")
        plot_energy(runs, path=out / "energy.png", normalised=True, title="energy staircase (Q = K = V = I)")
        console.print(f"writing the animation {out / 'beta9.gif'} (60 frames) ...")
        animate_cloud(runs["β = 9"], out / "beta9.gif", title="SA, β = 9")
        console.print(
            f"\nfigures: [bold]{out}/cloud_beta1.png[/bold], [bold]{out}/cloud_beta9.png[/bold], "
            f"[bold]{out}/energy.png[/bold], [bold]{out}/beta9.gif[/bold]"
        )


def _figures(traj, stem: Path, beta: float) -> list[Path]:
    from attnflow.viz import plot_cloud, plot_energy

    paths = [stem.parent / f"{stem.name}_cloud.png"]
    plot_cloud(traj, path=paths[0])
    if beta != 0:
        paths.append(stem.parent / f"{stem.name}_energy.png")
        plot_energy(traj, beta=beta, path=paths[1])
    return paths
