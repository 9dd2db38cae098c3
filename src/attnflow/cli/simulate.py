"""``attnflow simulate`` and ``attnflow demo``: run the self-attention particle dynamics."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from attnflow.dynamics import GEOMETRIES, VARIANTS
from attnflow.integrate import METHODS

console = Console()

# The choices of the library itself, so the command line cannot drift from it.
Variant = Enum("Variant", {v: v for v in VARIANTS}, type=str)
Geometry = Enum("Geometry", {g: g for g in GEOMETRIES}, type=str)
Method = Enum("Method", {m: m for m in METHODS}, type=str)


class Start(str, Enum):
    uniform = "uniform"
    orthogonal = "orthogonal"
    antipodal = "antipodal"
    file = "file"


class Precision(str, Enum):
    float32 = "float32"
    float64 = "float64"


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise typer.BadParameter("CUDA is not available on this machine", param_hint="--device")
    return name


def _random_weights(heads: int, d: int, seed: int, dtype, device):
    """Per-head Gaussian Q, K, V with entries N(0, 1/d): a random layer, reproducible from the seed."""
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    draw = [torch.randn(heads, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d) for _ in range(3)]
    return [w.to(dtype=dtype, device=device) for w in draw]


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
        n: Annotated[int, typer.Option(min=1, help="Number of tokens.")] = 256,
        d: Annotated[int, typer.Option(min=1, help="Dimension of the token space.")] = 3,
        beta: Annotated[float, typer.Option(help="Inverse temperature β (β < 0: repulsive).")] = 1.0,
        variant: Annotated[Variant, typer.Option(help="Attention normalisation.")] = Variant.SA,
        geometry: Annotated[
            Geometry, typer.Option(help="sphere (LayerNorm) or euclidean.")
        ] = Geometry.sphere,
        causal: Annotated[bool, typer.Option(help="Token k attends only to tokens j <= k.")] = False,
        heads: Annotated[int, typer.Option(min=1, help="Number of attention heads.")] = 1,
        random_weights: Annotated[
            bool, typer.Option(help="Random per-head Q, K, V (N(0, 1/d) entries) instead of identities.")
        ] = False,
        start: Annotated[Start, typer.Option(help="Initial condition.")] = Start.uniform,
        init_file: Annotated[
            Path | None, typer.Option(help="With --start file: a .npy, .pt or Trajectory store.")
        ] = None,
        t_end: Annotated[float, typer.Option(help="Final time.")] = 10.0,
        dt: Annotated[float, typer.Option(help="Step (first trial step for dopri5).")] = 0.1,
        method: Annotated[Method, typer.Option(help="Integrator.")] = Method.rk4,
        save_every: Annotated[int, typer.Option(min=1, help="Keep every k-th step.")] = 1,
        rtol: Annotated[float, typer.Option(help="dopri5 relative tolerance.")] = 1e-6,
        atol: Annotated[float, typer.Option(help="dopri5 absolute tolerance.")] = 1e-8,
        seed: Annotated[int, typer.Option(help="Seed of the initial condition and random weights.")] = 0,
        dtype: Annotated[Precision, typer.Option(help="Floating-point precision.")] = Precision.float32,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
        plot: Annotated[bool, typer.Option(help="Also write figures next to the store.")] = False,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    ) -> None:
        """Simulate self-attention dynamics and save the Trajectory (and figures with --plot)."""
        import torch

        import attnflow as af

        torch_dtype = getattr(torch, dtype.value)
        dev = _device(device)
        try:
            if start is Start.uniform:
                x0 = af.init.uniform_sphere(n, d, seed=seed, dtype=torch_dtype, device=dev)
            elif start is Start.orthogonal:
                x0 = af.init.orthogonal(n, d, seed=seed, dtype=torch_dtype, device=dev)
            elif start is Start.antipodal:
                x0 = af.init.antipodal_pair(d, dtype=torch_dtype, device=dev)
            else:
                if init_file is None:
                    raise typer.BadParameter("--start file needs --init-file PATH", param_hint="--init-file")
                x0 = af.init.from_file(
                    init_file, normalize=geometry is Geometry.sphere, dtype=torch_dtype, device=dev
                )
            Q = K = V = None
            if random_weights:
                Q, K, V = _random_weights(heads, x0.shape[-1], seed, torch_dtype, dev)
            field = af.SelfAttention(
                beta, variant.value, geometry.value, Q=Q, K=K, V=V, causal=causal, heads=heads
            )
            traj = af.simulate(
                field,
                x0,
                t_end=t_end,
                dt=dt,
                method=method.value,
                save_every=save_every,
                rtol=rtol,
                atol=atol,
                progress=progress,
                params={"seed": seed, "start": start.value, "random_weights": random_weights},
            )
        except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as err:
            console.print(f"[red]error:[/red] {err}")
            raise typer.Exit(code=2) from None
        traj = traj.to("cpu")
        traj.save(out)
        console.print(_summary(traj, beta))
        console.print(f"trajectory: [bold]{out}[/bold]")
        if plot:
            for figure in _figures(traj, out.with_suffix(""), beta):
                console.print(f"figure:     [bold]{figure}[/bold]")

    @app.command()
    def demo(
        out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/demo"),
        n: Annotated[int, typer.Option(min=2, help="Number of tokens.")] = 64,
        t_end: Annotated[float, typer.Option(help="Final time.")] = 30.0,
    ) -> None:
        """Tokens on the sphere S² cluster under self-attention: β = 1 and β = 9, figures and data."""
        import attnflow as af
        from attnflow.viz import animate_cloud, plot_cloud, plot_energy

        out.mkdir(parents=True, exist_ok=True)
        x0 = af.init.uniform_sphere(n, 3, seed=0)
        runs = {}
        for beta in (1.0, 9.0):
            console.print(f"simulating n={n} tokens on S², SA, β={beta:g}, t ∈ [0, {t_end:g}] ...")
            traj = af.simulate(
                af.SelfAttention(beta),
                x0,
                t_end=t_end,
                dt=0.05,
                save_every=4,
                progress=True,
                params={"seed": 0, "start": "uniform"},
            )
            path = traj.save(out / f"beta{beta:g}.zarr")
            console.print(_summary(traj, beta))
            console.print(f"trajectory: [bold]{path}[/bold]")
            times = [0.0, t_end / 10, t_end / 3, t_end]
            plot_cloud(traj, times=times, path=out / f"cloud_beta{beta:g}.png", title=f"SA, β = {beta:g}")
            runs[f"β = {beta:g}"] = traj
        plot_energy(runs, path=out / "energy.png", normalised=True, title="energy staircase (Q = K = V = I)")
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
