"""Worlds: exact path laws against brute-force enumeration and closed forms on tiny alphabets."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from attnflow.paths import PCFG, WORLDS, HiddenMarkov, InContextMarkov, MarkovChain, make_world
from attnflow.random import spawn


def all_paths(vocab_size: int, length: int) -> np.ndarray:
    return np.array(list(itertools.product(range(vocab_size), repeat=length)), dtype=np.int64)


def markov_reference(chain: MarkovChain, path: np.ndarray) -> float:
    k = chain.order
    out = sum(np.log(chain.initial[x]) for x in path[:k])
    return out + sum(np.log(chain.transition[tuple(path[t - k : t + 1])]) for t in range(k, len(path)))


def hmm_reference(hmm: HiddenMarkov, path: np.ndarray) -> float:
    """Sum over every hidden-state sequence."""
    total = 0.0
    for hidden in itertools.product(range(hmm.n_states), repeat=len(path)):
        p = hmm.initial[hidden[0]] * hmm.emission[hidden[0], path[0]]
        for t in range(1, len(path)):
            p *= hmm.transition[hidden[t - 1], hidden[t]] * hmm.emission[hidden[t], path[t]]
        total += p
    return float(np.log(total))


def in_context_reference(world: InContextMarkov, path: np.ndarray) -> float:
    """Dirichlet-multinomial marginal likelihood: prod_i B(alpha_i + n_i) / B(alpha_i), times 1/V."""
    v = world.vocab_size
    counts = np.zeros((v, v))
    for a, b in itertools.pairwise(path):
        counts[a, b] += 1

    def log_beta(a: np.ndarray) -> np.ndarray:
        return gammaln(a).sum(axis=-1) - gammaln(a.sum(axis=-1))

    return float(-np.log(v) + (log_beta(world.alpha + counts) - log_beta(world.alpha)).sum())


@pytest.mark.parametrize(
    ("world", "reference"),
    [
        (MarkovChain.random(3, order=2, seed=1), markov_reference),
        (HiddenMarkov.random(3, n_states=3, seed=2), hmm_reference),
        (InContextMarkov.random(3, concentration=1.5, seed=3), in_context_reference),
    ],
    ids=["markov-order2", "hmm", "in-context"],
)
def test_log_prob_matches_brute_force(world, reference) -> None:
    paths = all_paths(world.vocab_size, 5)
    expected = np.array([reference(world, p) for p in paths])
    np.testing.assert_allclose(world.log_prob(paths), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", WORLDS)
def test_next_token_law_is_the_conditional_of_the_path_law(name: str) -> None:
    """p(x_t | x_<t) from enumeration of all paths equals the world's next-token law (Bayes predictor)."""
    world = make_world(name, vocab_size=3, seed=4)
    length = 4
    paths = all_paths(world.vocab_size, length)
    joint = np.exp(world.log_prob(paths))
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    law = world.next_token_law(paths)
    for t in range(length):
        prefix_mass: dict[tuple[int, ...], np.ndarray] = {}
        for path, p in zip(paths, joint, strict=True):
            prefix_mass.setdefault(tuple(path[:t]), np.zeros(world.vocab_size))[path[t]] += p
        for i, path in enumerate(paths):
            mass = prefix_mass[tuple(path[:t])]
            if mass.sum() > 0:
                np.testing.assert_allclose(law[i, t], mass / mass.sum(), atol=1e-10)


@pytest.mark.parametrize("name", WORLDS)
def test_sampler_follows_the_law(name: str) -> None:
    world = make_world(name, vocab_size=3, seed=5)
    draws = world.sample(20000, 3, seed=0)
    codes = draws @ np.array([9, 3, 1])
    empirical = np.bincount(codes, minlength=27) / len(codes)
    exact = np.exp(world.log_prob(all_paths(3, 3)))
    assert 0.5 * np.abs(empirical - exact).sum() < 0.025


@pytest.mark.parametrize("name", WORLDS)
def test_sampling_is_reproducible(name: str) -> None:
    world = make_world(name, vocab_size=5, seed=0)
    np.testing.assert_array_equal(world.sample(8, 12, seed=3), world.sample(8, 12, seed=3))
    assert not np.array_equal(world.sample(8, 12, seed=3), world.sample(8, 12, seed=4))
    first, second = spawn(3, 2)
    np.testing.assert_array_equal(world.sample(8, 12, seed=first), world.sample(8, 12, seed=spawn(3, 2)[0]))
    assert not np.array_equal(world.sample(8, 12, seed=first), world.sample(8, 12, seed=second))


def test_seeds_follow_the_policy() -> None:
    """A root int seeds NumPy directly; generators and negative seeds are refused, naming the seed."""
    np.testing.assert_array_equal(
        MarkovChain.random(4, seed=5).transition.reshape(-1, 4),
        np.random.default_rng(5).dirichlet(np.full(4, 0.5), size=4),
    )
    with pytest.raises(TypeError, match="seed"):
        make_world("hmm", seed=np.random.default_rng(0))
    with pytest.raises(TypeError, match="seed"):
        make_world("markov").sample(2, 3, seed=-1)


def _grammar() -> PCFG:
    return PCFG.random(n_terminals=2, n_nonterminals=2, branching=0.3, seed=7)


def _sentence_table(grammar: PCFG, max_len: int) -> dict[tuple[int, ...], float]:
    """P(S =>* s) for every sentence s with |s| <= max_len, by recursion over strings (not CKY)."""
    n = grammar.n_nonterminals

    @cache
    def yields(symbol: int, budget: int) -> dict[tuple[int, ...], float]:
        out: dict[tuple[int, ...], float] = {}
        for a in range(grammar.n_terminals):
            out[(a,)] = out.get((a,), 0.0) + grammar.unary[symbol, a]
        if budget >= 2:
            for b, c in itertools.product(range(n), repeat=2):
                rule = grammar.binary[symbol, b, c]
                for left, p_left in yields(b, budget - 1).items():
                    for right, p_right in yields(c, budget - len(left)).items():
                        out[left + right] = out.get(left + right, 0.0) + rule * p_left * p_right
        return out

    return yields(0, max_len)


def test_pcfg_inside_matches_enumeration() -> None:
    grammar = _grammar()
    table = _sentence_table(grammar, 5)
    for length in range(1, 6):
        for sentence in itertools.product(range(2), repeat=length):
            assert grammar.inside(np.array(sentence)) == pytest.approx(table.get(sentence, 0.0), rel=1e-10)


def test_pcfg_prefix_probability_is_bracketed_by_enumeration() -> None:
    """sum_{|wv| <= M} P(wv) <= P_prefix(w) <= that + P(|sentence| > M)."""
    grammar = _grammar()
    max_len = 9
    table = _sentence_table(grammar, max_len)
    longer = 1.0 - sum(table.values())
    assert 0 < longer < 0.05
    for length in range(1, 4):
        for prefix in itertools.product(range(2), repeat=length):
            lower = sum(p for s, p in table.items() if s[:length] == prefix)
            value = grammar.prefix_prob(np.array(prefix))
            assert lower - 1e-12 <= value <= lower + longer + 1e-12


def test_pcfg_prefix_probabilities_add_up() -> None:
    """P_prefix(w) = P_inside(w) + sum_a P_prefix(w a): a sentence starting with w ends or goes on."""
    grammar = PCFG.random(n_terminals=3, n_nonterminals=3, branching=0.45, seed=1)
    for prefix in ([0], [1, 2], [2, 0, 1, 1]):
        following = sum(grammar.prefix_prob(np.array([*prefix, a])) for a in range(3))
        assert grammar.prefix_prob(np.array(prefix)) == pytest.approx(
            grammar.inside(np.array(prefix)) + following, rel=1e-10
        )


def test_markov_fit_recovers_the_chain() -> None:
    chain = MarkovChain.random(4, order=1, concentration=1.0, seed=2)
    fitted = MarkovChain.fit(chain.sample(4000, 40, seed=1), 4, order=1)
    np.testing.assert_allclose(fitted.transition, chain.transition, atol=0.02)


def test_hmm_entropy_does_not_grow_with_context() -> None:
    """The stationary HMM's exact H(X_t | X_<t) is non-increasing in t (checked by enumeration)."""
    hmm = HiddenMarkov.random(3, n_states=3, seed=9)
    paths = all_paths(3, 6)
    weights = np.exp(hmm.log_prob(paths))
    law = hmm.next_token_law(paths)
    entropy = -(weights[:, None] * (law * np.log(law)).sum(-1)).sum(0)
    assert np.all(np.diff(entropy) <= 1e-12)
    assert entropy[-1] < entropy[0]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MarkovChain(np.full((3, 3), 0.5)), "sum to 1"),
        (lambda: MarkovChain(np.full((3, 2), 0.5)), "shape"),
        (lambda: HiddenMarkov(np.eye(2), np.full((3, 2), 0.5)), "emission"),
        (lambda: InContextMarkov(np.zeros((3, 3))), "strictly positive"),
        (lambda: PCFG.random(3, branching=0.6), "branching"),
        (lambda: PCFG(np.full((1, 1, 1), 0.6), np.full((1, 2), 0.2)), "subcritical"),
        (lambda: make_world("zipf"), "world must be one of"),
        (lambda: MarkovChain.random(1), "vocab_size"),
        (lambda: MarkovChain.random(3, concentration=-1.0), "concentration"),
        (lambda: make_world("markov", vocab_size=3).log_prob(np.array([[0, 3]])), r"\[0, 3\)"),
        (lambda: make_world("hmm", vocab_size=3).sample(0, 4), "n_paths"),
        (lambda: HiddenMarkov.random(3, stickiness=1.0), "stickiness"),
        (lambda: MarkovChain.fit(np.zeros((2, 1), dtype=int), 3, order=1), "L > order"),
    ],
)
def test_bad_configs_error_clearly(build, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        build()


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(WORLDS),
    vocab_size=st.integers(2, 6),
    seed=st.integers(0, 10_000),
    length=st.integers(1, 12),
)
def test_sampled_paths_are_possible_and_laws_are_normalised(name, vocab_size, seed, length) -> None:
    world = make_world(name, vocab_size=vocab_size, seed=seed)
    paths = world.sample(5, length, seed=seed + 1)
    law = world.next_token_law(paths)
    np.testing.assert_allclose(law.sum(-1), 1.0, atol=1e-10)
    assert np.isfinite(world.log_prob(paths)).all()
