"""Every gallery example and every notebook runs (so no published snippet can crash), and a sweep
started from a script without a ``__main__`` guard fails with a message that says so."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GALLERY = sorted((ROOT / "examples" / "gallery").glob("*.py"))
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))


def test_the_gallery_and_the_notebooks_are_there():
    assert {p.stem for p in GALLERY} >= {"clustering", "energy_staircase", "sweep_phase", "reproduce_one"}
    assert {p.stem for p in NOTEBOOKS} == {"particles_clustering", "inference_conditional_mean", "path_walks"}


@pytest.mark.parametrize("script", GALLERY, ids=lambda p: p.stem)
def test_gallery_example_runs(script, tmp_path, capsys):
    # Run in this process (the import of torch is paid once); `main` is what `__main__` calls.
    namespace = runpy.run_path(str(script), run_name="gallery")
    namespace["main"](tmp_path)
    assert capsys.readouterr().out.strip()  # each example reports what it found
    assert any(tmp_path.rglob("*.png")), "each example writes a figure"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(notebook, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    book = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for c in book.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert all(c.get("outputs") for c in book.cells if c.cell_type == "code")


UNGUARDED = """
from attnflow import sweep

spec = sweep.SweepSpec.from_dict({"name": "unguarded", "simulation": "self-attention", "seeds": 1,
    "measurements": ["energy"], "params": {"n": 4, "d": 3, "t_end": 0.2, "dt": 0.1},
    "grid": {"beta": [1.0, 2.0]}})
sweep.run(spec, STORE, sweep.ExecutorConfig(kind="local", workers=2))
"""


@pytest.mark.slow
def test_a_sweep_script_without_main_guard_is_told_so(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED.replace("STORE", repr(str(tmp_path / "s.zarr"))))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "could not start" in last and 'if __name__ == "__main__":' in last and str(script) in last
