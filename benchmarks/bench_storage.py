"""What the storage guarantees cost: a guarded save and load against the bare Zarr write and read.

A guarded save (``attnflow.io.write_dataset``, which every store's save goes through) checks what is at
the path, writes a temporary copy, records the manifest, takes the store's lock, exchanges the copy into
place and deletes the old one. A guarded load (``attnflow.io.load_dataset``) takes the lock and checks
the manifest before reading. The bare baseline removes the old store, writes the same Dataset (a saved
trajectory's) with ``to_zarr`` and reads it back with ``open_zarr(...).load()``, with none of these
guarantees. Both run side by side, interleaved, at 1 and 2 torch threads, for a small and a large
trajectory; the table gives medians and the ratio guarded / bare.

    python benchmarks/bench_storage.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_storage.py --quick    # fewer repeats, prints only
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import xarray as xr
from _report import load_note, machine_line, update_section

from attnflow import Trajectory, io

SIZES = {"small (T 11, n 64, d 16)": (11, 64, 16), "large (T 11, n 4096, d 64)": (11, 4096, 64)}
THREADS = (1, 2)


def make(shape: tuple[int, int, int]) -> xr.Dataset:
    """The Dataset that ``Trajectory.save`` writes for a random trajectory of ``shape``."""
    traj = Trajectory(times=torch.arange(float(shape[0])), x=torch.randn(*shape), params={"beta": 1.0})
    with tempfile.TemporaryDirectory() as tmp:
        return io.load_dataset(traj.save(Path(tmp) / "t.zarr"), "trajectory")


def guarded(dataset: xr.Dataset, path: Path) -> tuple[float, float]:
    start = time.perf_counter()
    io.write_dataset(path, dataset, "trajectory")
    middle = time.perf_counter()
    io.load_dataset(path, "trajectory")
    return middle - start, time.perf_counter() - middle


def bare(dataset: xr.Dataset, path: Path) -> tuple[float, float]:
    start = time.perf_counter()
    shutil.rmtree(path, ignore_errors=True)  # replacing costs the old copy's removal either way
    dataset.to_zarr(path, mode="w", consolidated=False)
    middle = time.perf_counter()
    with xr.open_zarr(path, consolidated=False) as ds:
        ds.load()
    return middle - start, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats; print only")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        scratch = Path(tmp)
        for label, shape in SIZES.items():
            dataset = make(shape)
            for threads in THREADS:
                torch.set_num_threads(threads)
                times: dict[str, list[tuple[float, float]]] = {"guarded": [], "bare": []}
                guarded(dataset, scratch / "guarded.zarr")  # warm-up, and a store to replace from now on
                for _ in range(repeats):
                    times["guarded"].append(guarded(dataset, scratch / "guarded.zarr"))
                    times["bare"].append(bare(dataset, scratch / "bare.zarr"))
                medians = {
                    kind: [statistics.median(t[i] for t in values) for i in (0, 1)]
                    for kind, values in times.items()
                }
                rows.append((label, threads, medians))

    lines = [
        "## Storage: what the guarantees cost",
        "",
        "`python benchmarks/bench_storage.py`: a trajectory's Dataset written with `io.write_dataset` and "
        "read with `io.load_dataset` (kind check, temporary copy, manifest, lock, exchange, removal of "
        "the old copy; lock and manifest check on load) against the bare `rmtree` of the old store + "
        f"`to_zarr` + `open_zarr().load()`, interleaved, median of {repeats} repeats; the guarded save "
        "replaces an existing store each time.",
        "",
        "| trajectory | torch threads | save ms (guarded / bare) | save ratio | load ms (guarded / bare) "
        "| load ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, threads, medians in rows:
        (gs, gl), (bs, bl) = medians["guarded"], medians["bare"]
        lines.append(
            f"| {label} | {threads} | {gs * 1e3:.1f} / {bs * 1e3:.1f} | {gs / bs:.2f}× | "
            f"{gl * 1e3:.1f} / {bl * 1e3:.1f} | {gl / bl:.2f}× |"
        )
    lines += ["", f"{machine_line()} {os.cpu_count()} cores. {load_note()}"]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        print(f"wrote {update_section('storage', text)}")


if __name__ == "__main__":
    main()
