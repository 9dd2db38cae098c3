"""The papers the experiments check, as :class:`~attnflow.experiments.base.Citation` s without a place.

Each experiment cites one of these ``.at(where)``. The project's seed documents are the first three:
seed 000 is the abstract of :data:`EMBEDDING_SPACE_MOVEMENT`, seed 001 the abstract of
:data:`EXCHANGEABILITY`, seed 002 notes of a talk on :data:`MATHEMATICAL_PERSPECTIVE`.
"""

from __future__ import annotations

from attnflow.experiments.base import Citation

#: Seed 000.
EMBEDDING_SPACE_MOVEMENT = Citation(
    authors=("Sumeet S. Singh",),
    title="Analyzing Transformer Dynamics as Movement through Embedding Space",
    year=2023,
    arxiv="2308.10874",
)

#: Seed 001.
EXCHANGEABILITY = Citation(
    authors=("Yufeng Zhang", "Boyi Liu", "Qi Cai", "Lingxiao Wang", "Zhaoran Wang"),
    title="An Analysis of Attention via the Lens of Exchangeability and Latent Variable Models",
    year=2022,
    arxiv="2212.14852",
)

#: Seed 002 (notes of Philippe Rigollet's talk on this paper).
MATHEMATICAL_PERSPECTIVE = Citation(
    authors=("Borjan Geshkovski", "Cyril Letrouit", "Yury Polyanskiy", "Philippe Rigollet"),
    title="A mathematical perspective on Transformers",
    year=2023,
    arxiv="2312.10794",
)

EMERGENCE_OF_CLUSTERS = Citation(
    authors=("Borjan Geshkovski", "Cyril Letrouit", "Yury Polyanskiy", "Philippe Rigollet"),
    title="The emergence of clusters in self-attention dynamics",
    year=2023,
    arxiv="2305.05465",
)

CAUSAL_ATTENTION_MASKING = Citation(
    authors=("Nikita Karagodin", "Yury Polyanskiy", "Philippe Rigollet"),
    title="Clustering in Causal Attention Masking",
    year=2024,
    arxiv="2411.04990",
)

METASTABLE_CLUSTERING = Citation(
    authors=("Giuseppe Bruno", "Federico Pasqualotto", "Andrea Agazzi"),
    title="Emergence of meta-stable clustering in mean-field transformer models",
    year=2024,
    arxiv="2410.23228",
)
