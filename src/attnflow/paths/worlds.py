"""Worlds: synthetic languages whose law over paths (token sequences) is known exactly.

Every world samples fixed-length paths and gives, for any path, the exact next-token law at every
position, ``p(x_t = . | x_<t)`` (row ``t`` of :meth:`World.next_token_law`, row 0 being the law of the
first token). The log-probability of a whole path follows by the chain rule. Worlds are analysis
objects: they work in NumPy float64 and draw from :func:`attnflow.random.numpy_generator` of a ``seed``
(an int >= 0 or a ``numpy.random.SeedSequence``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from attnflow._validate import one_of, positive_int, positive_number
from attnflow.random import Seed, numpy_generator

_ROW_SUM_ATOL = 1e-8


def _check_law(name: str, table: np.ndarray) -> np.ndarray:
    """Raise unless the last axis of ``table`` holds probability vectors."""
    table = np.asarray(table, dtype=np.float64)
    if table.ndim < 1 or table.shape[-1] < 1:
        raise ValueError(f"{name} must have a non-empty last axis of probabilities, got shape {table.shape}")
    if not np.isfinite(table).all() or (table < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    worst = np.abs(table.sum(axis=-1) - 1).max()
    if worst > _ROW_SUM_ATOL:
        raise ValueError(
            f"every row of {name} must sum to 1 (to {_ROW_SUM_ATOL:g}); the worst is off by {worst:.3g}"
        )
    return table


def _sample_rows(rng: np.random.Generator, laws: np.ndarray) -> np.ndarray:
    """One draw from each row of ``laws`` (shape ``(n, V)``) by inverse-CDF sampling."""
    cdf = np.cumsum(laws, axis=-1)
    u = rng.random(laws.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=-1), laws.shape[-1] - 1)


class World(ABC):
    """A language with an exact path law over a vocabulary of ``vocab_size`` tokens."""

    vocab_size: int

    @abstractmethod
    def sample(self, n_paths: int, length: int, seed: Seed = 0) -> np.ndarray:
        """Draw paths from the world.

        Args:
            n_paths: number of paths.
            length: tokens per path.
            seed: an int >= 0 or a ``SeedSequence`` (same seed, same paths).

        Returns:
            int64 array ``(n_paths, length)`` of token ids in ``[0, vocab_size)``.
        """

    @abstractmethod
    def _next_token_law(self, paths: np.ndarray) -> np.ndarray:
        """The law of every token given its prefix, for validated paths."""

    def next_token_law(self, paths: np.ndarray) -> np.ndarray:
        """The exact law of each token given the tokens before it.

        Args:
            paths: int array ``(n, L)`` (or ``(L,)``) of token ids.

        Returns:
            float64 array ``(n, L, vocab_size)``; entry ``[i, t, v]`` is ``p(x_t = v | x_<t = paths[i, :t])``
            (all zero after a prefix the world never produces, where the conditional is undefined).

        Raises:
            ValueError: paths are empty, not 1-D/2-D, or hold ids outside ``[0, vocab_size)``.
        """
        return self._next_token_law(self._check_paths(paths))

    def log_prob(self, paths: np.ndarray) -> np.ndarray:
        """The exact log-probability of each whole path, ``sum_t log p(x_t | x_<t)``.

        Args:
            paths: int array ``(n, L)`` (or ``(L,)``) of token ids.

        Returns:
            float64 array ``(n,)`` (``-inf`` for a path the world never produces).
        """
        paths = self._check_paths(paths)
        law = self._next_token_law(paths)
        picked = np.take_along_axis(law, paths[..., None], axis=-1)[..., 0]
        with np.errstate(divide="ignore"):
            return np.log(picked).sum(axis=-1)

    def _check_paths(self, paths: np.ndarray) -> np.ndarray:
        paths = np.asarray(paths)
        if paths.ndim == 1:
            paths = paths[None]
        if paths.ndim != 2 or paths.shape[1] == 0:
            raise ValueError(f"paths must have shape (n, L) with L >= 1, got {paths.shape}")
        if not np.issubdtype(paths.dtype, np.integer):
            raise TypeError(f"paths must hold integer token ids, got dtype {paths.dtype}")
        if paths.size and (paths.min() < 0 or paths.max() >= self.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.vocab_size}), got {paths.min()}..{paths.max()}"
            )
        return paths.astype(np.int64)


class MarkovChain(World):
    """A Markov chain of order ``k``: each token depends on the ``k`` tokens before it.

    The first ``k`` tokens are drawn independently from ``initial``; afterwards
    ``p(x_t | x_<t) = transition[x_{t-k}, ..., x_{t-1}]``. Order 0 is an i.i.d. (unigram) source.

    Args:
        transition: array of shape ``(V,) * (k + 1)``; the last axis is the law of the next token.
        initial: law of each of the first ``k`` tokens, shape ``(V,)`` (uniform by default).

    Raises:
        ValueError: a table is not made of probability vectors, or shapes disagree.
    """

    def __init__(self, transition: np.ndarray, initial: np.ndarray | None = None) -> None:
        self.transition = _check_law("transition", transition)
        self.vocab_size = self.transition.shape[-1]
        if any(s != self.vocab_size for s in self.transition.shape):
            raise ValueError(f"transition must have shape (V,)*(k+1), got {self.transition.shape}")
        self.order = self.transition.ndim - 1
        if initial is None:
            initial = np.full(self.vocab_size, 1.0 / self.vocab_size)
        self.initial = _check_law("initial", initial)
        if self.initial.shape != (self.vocab_size,):
            raise ValueError(f"initial must have shape ({self.vocab_size},), got {self.initial.shape}")

    @classmethod
    def random(
        cls, vocab_size: int, order: int = 1, concentration: float = 0.5, seed: Seed = 0
    ) -> MarkovChain:
        """A chain whose transition rows are drawn from a symmetric Dirichlet(``concentration``).

        Args:
            vocab_size: number of tokens ``V`` (>= 2).
            order: ``k`` (>= 0).
            concentration: Dirichlet parameter (> 0); small values give nearly deterministic rows.
            seed: an int >= 0 or a ``SeedSequence``.
        """
        vocab_size = positive_int("vocab_size", vocab_size, minimum=2)
        order = positive_int("order", order, minimum=0)
        concentration = positive_number("concentration", concentration)
        rng = numpy_generator(seed)
        rows = rng.dirichlet(np.full(vocab_size, concentration), size=vocab_size**order)
        return cls(rows.reshape((vocab_size,) * (order + 1)))

    @classmethod
    def fit(
        cls, paths: np.ndarray, vocab_size: int, order: int = 1, pseudocount: float = 0.01
    ) -> MarkovChain:
        """The maximum-likelihood chain of a given order (lightly smoothed) fitted to sample paths.

        This is the best *fixed* (context-free beyond the last ``order`` tokens) predictor of the data;
        order 0 is the unigram baseline.

        Args:
            paths: int array ``(n, L)`` with ``L > order``.
            vocab_size: ``V``.
            order: ``k`` (>= 0).
            pseudocount: added to every count (> 0) so that no probability is zero.
        """
        vocab_size = positive_int("vocab_size", vocab_size, minimum=2)
        order = positive_int("order", order, minimum=0)
        pseudocount = positive_number("pseudocount", pseudocount)
        paths = np.asarray(paths, dtype=np.int64)
        if paths.ndim != 2 or paths.shape[1] <= order:
            raise ValueError(f"paths must have shape (n, L) with L > order={order}, got {paths.shape}")
        windows = np.lib.stride_tricks.sliding_window_view(paths, order + 1, axis=1).reshape(-1, order + 1)
        flat = np.ravel_multi_index(tuple(windows.T), (vocab_size,) * (order + 1))
        counts = np.bincount(flat, minlength=vocab_size ** (order + 1)).astype(np.float64) + pseudocount
        counts = counts.reshape(-1, vocab_size)
        table = (counts / counts.sum(axis=1, keepdims=True)).reshape((vocab_size,) * (order + 1))
        first = np.bincount(paths[:, :order].ravel(), minlength=vocab_size) + pseudocount
        return cls(table, first / first.sum())

    def sample(self, n_paths: int, length: int, seed: Seed = 0) -> np.ndarray:
        n_paths = positive_int("n_paths", n_paths)
        length = positive_int("length", length)
        rng = numpy_generator(seed)
        out = np.empty((n_paths, length), dtype=np.int64)
        for t in range(length):
            if t < self.order:
                law = np.broadcast_to(self.initial, (n_paths, self.vocab_size))
            else:
                law = self.transition[tuple(out[:, t - self.order : t].T)]
            out[:, t] = _sample_rows(rng, law)
        return out

    def _next_token_law(self, paths: np.ndarray) -> np.ndarray:
        n, length = paths.shape
        law = np.empty((n, length, self.vocab_size))
        head = min(self.order, length)
        law[:, :head] = self.initial
        if length > self.order:
            windows = np.lib.stride_tricks.sliding_window_view(paths[:, :-1], self.order, axis=1)
            law[:, self.order :] = self.transition[tuple(np.moveaxis(windows, -1, 0))]
        return law


class HiddenMarkov(World):
    """A hidden Markov model: a hidden chain over ``S`` states emits one token per step.

    ``p(h_0) = initial``, ``p(h_t | h_{t-1}) = transition``, ``p(x_t | h_t) = emission``. The next-token
    law is the forward algorithm's predictive distribution. With the default ``initial`` (the
    stationary law of ``transition``) the token process is stationary, so the exact next-token entropy
    ``H(X_t | X_<t)`` cannot increase with ``t``.

    Args:
        transition: ``(S, S)`` row-stochastic.
        emission: ``(S, V)`` row-stochastic.
        initial: ``(S,)``; the stationary law of ``transition`` by default.
    """

    def __init__(
        self, transition: np.ndarray, emission: np.ndarray, initial: np.ndarray | None = None
    ) -> None:
        self.transition = _check_law("transition", transition)
        self.emission = _check_law("emission", emission)
        n_states = self.transition.shape[0]
        if self.transition.shape != (n_states, n_states) or self.emission.shape[0] != n_states:
            raise ValueError(
                f"transition must be (S, S) and emission (S, V); got {self.transition.shape} "
                f"and {self.emission.shape}"
            )
        self.n_states = n_states
        self.vocab_size = self.emission.shape[1]
        self.initial = _check_law("initial", self.stationary() if initial is None else initial)
        if self.initial.shape != (n_states,):
            raise ValueError(f"initial must have shape ({n_states},), got {self.initial.shape}")

    @classmethod
    def random(
        cls,
        vocab_size: int,
        n_states: int = 4,
        stickiness: float = 0.8,
        concentration: float = 0.5,
        emission_concentration: float = 0.2,
        seed: Seed = 0,
    ) -> HiddenMarkov:
        """An HMM that stays in its hidden state with probability at least ``stickiness``.

        Transition rows are ``stickiness * I + (1 - stickiness) * Dirichlet(concentration)`` and
        emission rows ``Dirichlet(emission_concentration)``: the hidden state persists and shows through
        the tokens, so a longer context pins it down better.

        Args:
            vocab_size: number of tokens ``V`` (>= 2).
            n_states: number of hidden states ``S`` (>= 1).
            stickiness: extra probability of staying, in [0, 1).
            concentration: Dirichlet parameter of the transition rows (> 0).
            emission_concentration: Dirichlet parameter of the emission rows (> 0).
            seed: an int >= 0 or a ``SeedSequence``.
        """
        vocab_size = positive_int("vocab_size", vocab_size, minimum=2)
        n_states = positive_int("n_states", n_states)
        if not 0 <= stickiness < 1:
            raise ValueError(f"stickiness must lie in [0, 1), got {stickiness!r}")
        rng = numpy_generator(seed)
        jumps = rng.dirichlet(np.full(n_states, positive_number("concentration", concentration)), n_states)
        transition = stickiness * np.eye(n_states) + (1 - stickiness) * jumps
        emission = rng.dirichlet(
            np.full(vocab_size, positive_number("emission_concentration", emission_concentration)), n_states
        )
        return cls(transition, emission)

    def stationary(self) -> np.ndarray:
        """A stationary law of the hidden chain (left eigenvector of eigenvalue 1)."""
        values, vectors = np.linalg.eig(self.transition.T)
        pi = np.abs(np.real(vectors[:, np.argmin(np.abs(values - 1))]))
        return pi / pi.sum()

    def sample(self, n_paths: int, length: int, seed: Seed = 0) -> np.ndarray:
        n_paths = positive_int("n_paths", n_paths)
        length = positive_int("length", length)
        rng = numpy_generator(seed)
        out = np.empty((n_paths, length), dtype=np.int64)
        hidden = _sample_rows(rng, np.broadcast_to(self.initial, (n_paths, self.n_states)))
        for t in range(length):
            if t:
                hidden = _sample_rows(rng, self.transition[hidden])
            out[:, t] = _sample_rows(rng, self.emission[hidden])
        return out

    def _next_token_law(self, paths: np.ndarray) -> np.ndarray:
        n, length = paths.shape
        law = np.empty((n, length, self.vocab_size))
        belief = np.broadcast_to(self.initial, (n, self.n_states)).copy()
        for t in range(length):
            law[:, t] = belief @ self.emission
            # Condition on the observed token, then move one step: the belief stays a normalised filter.
            # After a token the world cannot emit, the belief stays zero (not 0/0 = NaN): every later
            # law is zero, so the path's log-probability is -inf.
            belief = belief * self.emission[:, paths[:, t]].T
            total = belief.sum(axis=1, keepdims=True)
            belief = np.divide(belief, total, out=np.zeros_like(belief), where=total > 0)
            belief = belief @ self.transition
        return law


class InContextMarkov(World):
    """Each path draws its own first-order transition matrix ``T ~ Dirichlet(alpha)`` (row by row).

    Predicting well needs the context: the exact next-token law is the Bayes posterior predictive
    ``p(x_{t+1} = j | x_<=t) = (alpha[i, j] + n_ij) / (sum_j alpha[i, j] + n_i)`` with ``i = x_t`` and
    ``n_ij`` the number of ``i -> j`` transitions seen so far (Dirichlet-multinomial conjugacy). The
    first token is uniform.

    Args:
        alpha: ``(V, V)`` positive Dirichlet parameters, one row per current token.
    """

    def __init__(self, alpha: np.ndarray) -> None:
        alpha = np.asarray(alpha, dtype=np.float64)
        if alpha.ndim != 2 or alpha.shape[0] != alpha.shape[1] or alpha.shape[0] < 2:
            raise ValueError(f"alpha must have shape (V, V) with V >= 2, got {alpha.shape}")
        if not np.isfinite(alpha).all() or (alpha <= 0).any():
            raise ValueError("alpha must hold finite, strictly positive Dirichlet parameters")
        self.alpha = alpha
        self.vocab_size = alpha.shape[0]

    @classmethod
    def random(cls, vocab_size: int, concentration: float = 2.0, seed: Seed = 0) -> InContextMarkov:
        """A prior ``alpha = concentration * base`` with base rows drawn from Dirichlet(1).

        The base makes the prior-mean chain informative, so a fixed (context-free) predictor has
        something to learn too; ``concentration`` sets how far each path's matrix strays from it.

        Args:
            vocab_size: ``V`` (>= 2).
            concentration: total prior mass per row (> 0); small values make paths differ a lot.
            seed: an int >= 0 or a ``SeedSequence``.
        """
        vocab_size = positive_int("vocab_size", vocab_size, minimum=2)
        concentration = positive_number("concentration", concentration)
        base = numpy_generator(seed).dirichlet(np.ones(vocab_size), vocab_size)
        return cls(concentration * base)

    def sample(self, n_paths: int, length: int, seed: Seed = 0) -> np.ndarray:
        n_paths = positive_int("n_paths", n_paths)
        length = positive_int("length", length)
        rng = numpy_generator(seed)
        matrices = np.stack([rng.dirichlet(row, n_paths) for row in self.alpha], axis=1)  # (n, V, V)
        out = np.empty((n_paths, length), dtype=np.int64)
        out[:, 0] = rng.integers(0, self.vocab_size, n_paths)
        rows = np.arange(n_paths)
        for t in range(1, length):
            out[:, t] = _sample_rows(rng, matrices[rows, out[:, t - 1]])
        return out

    def _next_token_law(self, paths: np.ndarray) -> np.ndarray:
        n, length = paths.shape
        v = self.vocab_size
        law = np.empty((n, length, v))
        law[:, 0] = 1.0 / v
        counts = np.zeros((n, v, v))
        rows = np.arange(n)
        for t in range(1, length):
            if t >= 2:
                counts[rows, paths[:, t - 2], paths[:, t - 1]] += 1.0
            post = self.alpha[paths[:, t - 1]] + counts[rows, paths[:, t - 1]]
            law[:, t] = post / post.sum(axis=1, keepdims=True)
        return law


@dataclass(frozen=True, eq=False)
class _Chart:
    """Inside chart of one sentence prefix: ``inside[i][j - i - 1]`` = inside vector of span ``i..j``."""

    inside: tuple[tuple[np.ndarray, ...], ...]
    prefix_prob: float


class PCFG(World):
    """A stream of sentences from a probabilistic context-free grammar in Chomsky normal form.

    Paths are sentences ``s_1 EOS s_2 EOS ...`` cut to the path length; token ``n_terminals`` is EOS.
    Rules are ``A -> B C`` with probability ``binary[A, B, C]`` and ``A -> a`` with probability
    ``unary[A, a]``; each nonterminal's rules sum to 1; sentences start from nonterminal 0.

    The next-token law inside a sentence whose first words are ``w`` is exact:
    ``p(a | w) = P_prefix(w a) / P_prefix(w)`` and ``p(EOS | w) = P_inside(w) / P_prefix(w)``, with
    inside probabilities from the inside (CKY) recursion and prefix probabilities
    ``P_prefix(w) = P(S =>* w v for some v)`` from the Jelinek-Lafferty recursion: the left-corner
    closure ``(I - L)^-1`` with ``L[A, B] = sum_C binary[A, B, C]`` sums the unbounded left spines
    exactly, so there is no cap on sentence length. The grammar must be consistent (sentences are
    finite with probability 1), which is checked: the mean-offspring matrix must have spectral
    radius below 1.

    Args:
        binary: ``(N, N, N)`` rule probabilities.
        unary: ``(N, n_terminals)`` rule probabilities.

    Raises:
        ValueError: rules do not sum to 1 per nonterminal, or the grammar is not subcritical.
    """

    def __init__(self, binary: np.ndarray, unary: np.ndarray) -> None:
        binary = np.asarray(binary, dtype=np.float64)
        unary = np.asarray(unary, dtype=np.float64)
        n = binary.shape[0]
        if binary.shape != (n, n, n) or unary.ndim != 2 or unary.shape[0] != n or unary.shape[1] < 1:
            raise ValueError(
                f"binary must be (N, N, N) and unary (N, T); got {binary.shape} and {unary.shape}"
            )
        _check_law(
            "rules (binary and unary together)", np.concatenate([binary.reshape(n, -1), unary], axis=1)
        )
        offspring = binary.sum(axis=2) + binary.sum(axis=1)
        radius = float(np.max(np.abs(np.linalg.eigvals(offspring))))
        if radius >= 1:
            raise ValueError(
                f"the grammar must be subcritical (mean-offspring spectral radius < 1) so that sentences "
                f"are finite; got {radius:.3g}. Lower the probability of binary rules."
            )
        self.binary = binary
        self.unary = unary
        self.n_nonterminals = n
        self.n_terminals = unary.shape[1]
        self.eos = self.n_terminals
        self.vocab_size = self.n_terminals + 1
        self._closure = np.linalg.inv(np.eye(n) - binary.sum(axis=2))

    @classmethod
    def random(
        cls, n_terminals: int, n_nonterminals: int = 4, branching: float = 0.4, seed: Seed = 0
    ) -> PCFG:
        """A random CNF grammar: each nonterminal branches with probability ``branching``.

        The mean sentence length is ``1 / (1 - 2 * branching)``.

        Args:
            n_terminals: number of words (>= 1); the vocabulary adds EOS.
            n_nonterminals: ``N`` (>= 1).
            branching: probability of a binary rule, in (0, 0.5).
            seed: an int >= 0 or a ``SeedSequence``.
        """
        n_terminals = positive_int("n_terminals", n_terminals)
        n = positive_int("n_nonterminals", n_nonterminals)
        branching = positive_number("branching", branching)
        if branching >= 0.5:
            raise ValueError(f"branching must lie in (0, 0.5) for finite sentences, got {branching}")
        rng = numpy_generator(seed)
        binary = branching * rng.dirichlet(np.full(n * n, 0.5), n).reshape(n, n, n)
        unary = (1 - branching) * rng.dirichlet(np.full(n_terminals, 0.5), n)
        return cls(binary, unary)

    def sample(self, n_paths: int, length: int, seed: Seed = 0) -> np.ndarray:
        n_paths = positive_int("n_paths", n_paths)
        length = positive_int("length", length)
        rng = numpy_generator(seed)
        n = self.n_nonterminals
        rules = np.concatenate([self.binary.reshape(n, -1), self.unary], axis=1)
        cdf = np.cumsum(rules, axis=1)
        out = np.empty((n_paths, length), dtype=np.int64)
        for p in range(n_paths):
            tokens: list[int] = []
            while len(tokens) < length:
                stack = [0]
                # Leftmost expansion, stopping once the path is full (the rest cannot be seen).
                while stack and len(tokens) < length:
                    symbol = stack.pop()
                    rule = min(
                        int(np.searchsorted(cdf[symbol], rng.random() * cdf[symbol, -1], "right")),
                        rules.shape[1] - 1,
                    )
                    if rule < n * n:
                        stack.extend((rule % n, rule // n))
                    else:
                        tokens.append(rule - n * n)
                tokens.append(self.eos)
            out[p] = tokens[:length]
        return out

    def inside(self, sentence: np.ndarray) -> float:
        """``P(S =>* sentence)``, the probability that a whole sentence is exactly ``sentence``."""
        chart = self._chart(sentence)
        return float(chart.inside[0][-1][0]) if chart.inside else 0.0

    def prefix_prob(self, prefix: np.ndarray) -> float:
        """``P(S =>* prefix v for some v)``, the probability that a sentence starts with ``prefix``."""
        return self._chart(prefix).prefix_prob

    def _chart(self, words: np.ndarray) -> _Chart:
        """The chart of a sentence prefix, extended one word at a time."""
        words = np.asarray(words, dtype=np.int64).reshape(-1)
        if words.size and (words.min() < 0 or words.max() >= self.n_terminals):
            raise ValueError(f"sentence words must lie in [0, {self.n_terminals}) (no EOS inside a sentence)")
        chart = self._empty()
        for a in words:
            chart = self._extend(chart, int(a))
        return chart

    def _empty(self) -> _Chart:
        return _Chart(inside=(), prefix_prob=1.0)

    def _extensions(self, chart: _Chart) -> tuple[np.ndarray, np.ndarray]:
        """For every next word ``a`` at once: the new inside column and ``P_prefix(w a)``.

        Returns:
            ``column`` of shape ``(n + 1, N, T)`` (inside vectors of spans ``i..n+1``) and the prefix
            probabilities ``(T,)``. Both are linear in the last word's unary vector, hence batched.
        """
        n = len(chart.inside)
        column = np.empty((n + 1, self.n_nonterminals, self.n_terminals))
        prefix = np.empty_like(column)
        column[n] = self.unary
        prefix[n] = self._closure @ self.unary
        for i in range(n - 1, -1, -1):
            left = np.stack(chart.inside[i])  # inside vectors of the spans i..k, k = i+1..n
            column[i] = np.einsum("abc,kb,kct->at", self.binary, left, column[i + 1 :])
            prefix[i] = self._closure @ np.einsum("abc,kb,kct->at", self.binary, left, prefix[i + 1 :])
        return column, prefix[0, 0]

    def _extend(
        self, chart: _Chart, word: int, extensions: tuple[np.ndarray, np.ndarray] | None = None
    ) -> _Chart:
        column, prefix = self._extensions(chart) if extensions is None else extensions
        rows = tuple((*row, column[i, :, word]) for i, row in enumerate(chart.inside))
        return _Chart(inside=(*rows, (column[-1, :, word],)), prefix_prob=float(prefix[word]))

    def _next_token_law(self, paths: np.ndarray) -> np.ndarray:
        n_paths, length = paths.shape
        law = np.zeros((n_paths, length, self.vocab_size))
        for p in range(n_paths):
            chart = self._empty()
            for t in range(length):
                extensions = self._extensions(chart)
                prefix = extensions[1]
                law[p, t, : self.n_terminals] = prefix / chart.prefix_prob
                if chart.inside:
                    law[p, t, self.eos] = chart.inside[0][-1][0] / chart.prefix_prob
                token = int(paths[p, t])
                if token == self.eos:
                    chart = self._empty()
                elif t + 1 < length:
                    chart = self._extend(chart, token, extensions)
        return law


WORLDS = ("markov", "hmm", "pcfg", "in-context")


def make_world(name: str, vocab_size: int = 8, seed: Seed = 0, **options: float) -> World:
    """Build a random world by name.

    Args:
        name: one of ``"markov"``, ``"hmm"``, ``"pcfg"``, ``"in-context"``.
        vocab_size: size of the vocabulary (for ``"pcfg"`` this includes EOS).
        seed: an int >= 0 or a ``SeedSequence``.
        **options: passed to the world's ``random`` constructor (e.g. ``order=2``, ``n_states=4``).

    Returns:
        The world.

    Raises:
        ValueError: unknown name.
    """
    one_of("world", name, WORLDS)
    if name == "markov":
        return MarkovChain.random(vocab_size, seed=seed, **options)
    if name == "hmm":
        return HiddenMarkov.random(vocab_size, seed=seed, **options)
    if name == "pcfg":
        return PCFG.random(positive_int("vocab_size", vocab_size, minimum=2) - 1, seed=seed, **options)
    return InContextMarkov.random(vocab_size, seed=seed, **options)
