"""The papers behind the experiments of the dynamics beyond the idealised layer (issue 14).

Only the abstracts of these papers could be read through the stored copies; each experiment's citation
says which statement it checks and whether its constants were verified.
"""

from __future__ import annotations

from attnflow.experiments.base import Citation

NORMALIZATION_IN_ATTENTION = Citation(
    authors=("Nikita Karagodin", "Shu Ge", "Yury Polyanskiy", "Philippe Rigollet"),
    title="Normalization in Attention Dynamics",
    year=2025,
    arxiv="2510.22026",
)

NOISY_TRANSFORMER_PHASES = Citation(
    authors=("Kyunghoo Mun", "Matthew Rosenzweig"),
    title="Phase transitions for the noisy transformer model in arbitrary dimension",
    year=2026,
    arxiv="2606.05140",
)

ATTENTION_FRANK_WOLFE = Citation(
    authors=("Albert Alcalde", "Borjan Geshkovski", "Domènec Ruiz-Balet"),
    title="Attention's forward pass and Frank–Wolfe",
    year=2025,
    arxiv="2508.09628",
)
