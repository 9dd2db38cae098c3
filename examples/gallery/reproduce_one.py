"""Check one published claim at its quick size: the verdict, and the HTML report with its figures.

Run: python examples/gallery/reproduce_one.py OUT_DIR
"""

import sys
from pathlib import Path

from attnflow.experiments import reproduce


def main(out: Path) -> None:
    (record,) = reproduce(["causal-collapse"], out=out / "reproduce", quick=True)
    print(f"{record.name}: {record.status} (measured: {record.measured})")
    print(f"report: {out / 'reproduce' / 'report.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/gallery"))
