"""The papers the experiments check, as :class:`~attnflow.experiments.base.Citation` s without a place.

Each experiment cites one of these ``.at(where, checked=...)``; ``docs/references.md`` lists each paper
once. The project started from three seed documents: the abstracts of :data:`EMBEDDING_SPACE_MOVEMENT`
and :data:`EXCHANGEABILITY`, and notes of a talk on :data:`MATHEMATICAL_PERSPECTIVE`. Reports and docs
cite the papers themselves, never the seed documents: a claim that comes from another paper
(:data:`EMERGENCE_OF_CLUSTERS`, :data:`CAUSAL_ATTENTION_MASKING`, :data:`METASTABLE_CLUSTERING`,
:data:`DYNAMIC_METASTABILITY`) cites
that paper.
"""

from __future__ import annotations

from attnflow.experiments.base import Citation

EMBEDDING_SPACE_MOVEMENT = Citation(
    authors=("Sumeet S. Singh",),
    title="Analyzing Transformer Dynamics as Movement through Embedding Space",
    year=2023,
    arxiv="2308.10874",
)

EXCHANGEABILITY = Citation(
    authors=("Yufeng Zhang", "Boyi Liu", "Qi Cai", "Lingxiao Wang", "Zhaoran Wang"),
    title="An Analysis of Attention via the Lens of Exchangeability and Latent Variable Models",
    year=2022,
    arxiv="2212.14852",
)

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

DYNAMIC_METASTABILITY = Citation(
    authors=("Borjan Geshkovski", "Hugo Koubbi", "Yury Polyanskiy", "Philippe Rigollet"),
    title="Dynamic metastability in the self-attention model",
    year=2024,
    arxiv="2410.06833",
)

CRITICAL_ATTENTION_SCALING = Citation(
    authors=("Shi Chen", "Zhengjiang Lin", "Yury Polyanskiy", "Philippe Rigollet"),
    title="Critical attention scaling in long-context transformers",
    year=2025,
    arxiv="2510.05554",
)

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

SYNCHRONIZATION_BY_NOISE = Citation(
    authors=("Andrea Agazzi", "Giuseppe Bruno", "Eloy Mosig García", "Samuele Saviozzi", "Marco Romito"),
    title="Stochastic Scaling Limits and Synchronization by Noise in Deep Transformer Models",
    year=2026,
    arxiv="2604.26898",
)

ATTENTION_FRANK_WOLFE = Citation(
    authors=("Albert Alcalde", "Borjan Geshkovski", "Domènec Ruiz-Balet"),
    title="Attention's forward pass and Frank–Wolfe",
    year=2025,
    arxiv="2508.09628",
)

MULTISCALE_MEAN_FIELD = Citation(
    authors=("Giuseppe Bruno", "Federico Pasqualotto", "Andrea Agazzi"),
    title="A multiscale analysis of mean-field transformers in the moderate interaction regime",
    year=2025,
    arxiv="2509.25040",
)

MASSIVE_ACTIVATIONS = Citation(
    authors=("Mingjie Sun", "Xinlei Chen", "J. Zico Kolter", "Zhuang Liu"),
    title="Massive Activations in Large Language Models",
    year=2024,
    arxiv="2402.17762",
)

ATTENTION_SINKS = Citation(
    authors=(
        "Federico Barbero",
        "Álvaro Arroyo",
        "Xiangming Gu",
        "Christos Perivolaropoulos",
        "Michael Bronstein",
        "Petar Veličković",
        "Razvan Pascanu",
    ),
    title="Why do LLMs attend to the first token?",
    year=2025,
    arxiv="2504.02732",
)

MASKS_AND_LAYERNORM = Citation(
    authors=("Xinyi Wu", "Amir Ajorlou", "Yifei Wang", "Stefanie Jegelka", "Ali Jadbabaie"),
    title="On the Role of Attention Masks and LayerNorm in Transformers",
    year=2024,
    arxiv="2405.18781",
)

ASYMPTOTIC_ATTENTION = Citation(
    authors=("Álvaro Rodríguez Abella", "João Pedro Silvestre", "Paulo Tabuada"),
    title="The Asymptotic Behavior of Attention in Transformers",
    year=2024,
    arxiv="2412.02682",
)

DEEP_STOCHASTIC_TRANSFORMERS = Citation(
    authors=("Lev Fedorov", "Michaël E. Sander", "Romuald Elie", "Pierre Marion", "Mathieu Laurière"),
    title="Clustering in Deep Stochastic Transformers",
    year=2026,
    arxiv="2601.21942",
)

LOST_IN_THE_MIDDLE = Citation(
    authors=("Mitia Duerinckx", "Borjan Geshkovski", "Stefano Rossi"),
    title="Kinetic theory for Transformers and the lost-in-the-middle phenomenon",
    year=2026,
    arxiv="2605.09213",
)

HARDMAX_LEADERS = Citation(
    authors=("Albert Alcalde", "Giovanni Fantuzzi", "Enrique Zuazua"),
    title="Clustering in pure-attention hardmax transformers and its role in sentiment analysis",
    year=2024,
    arxiv="2407.01602",
)

#: Every paper an experiment of attnflow cites, in the order of ``docs/references.md``.
PAPERS = (
    MATHEMATICAL_PERSPECTIVE,
    EMERGENCE_OF_CLUSTERS,
    CAUSAL_ATTENTION_MASKING,
    METASTABLE_CLUSTERING,
    DYNAMIC_METASTABILITY,
    EXCHANGEABILITY,
    EMBEDDING_SPACE_MOVEMENT,
    CRITICAL_ATTENTION_SCALING,
    NORMALIZATION_IN_ATTENTION,
    NOISY_TRANSFORMER_PHASES,
    SYNCHRONIZATION_BY_NOISE,
    ATTENTION_FRANK_WOLFE,
    MULTISCALE_MEAN_FIELD,
    MASSIVE_ACTIVATIONS,
    ATTENTION_SINKS,
    MASKS_AND_LAYERNORM,
    ASYMPTOTIC_ATTENTION,
    DEEP_STOCHASTIC_TRANSFORMERS,
    LOST_IN_THE_MIDDLE,
    HARDMAX_LEADERS,
)

#: What the stored copy of the Mathematical-perspective paper let us check (its table of contents).
PERSPECTIVE_TOC = (
    "section title checked against the table of contents of arXiv:2312.10794v4 (stored copy); the "
    "statement is the project's reading, its theorem number not checked against the body text"
)

#: What the seed documents let us check for the two papers whose abstracts they are.
ABSTRACT_CHECKED = "the quoted words checked against the paper's abstract (the project's seed document)"
