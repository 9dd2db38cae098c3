"""Learning: the ERM objectives against brute force, training, identifiability, the condition number."""

import math

import numpy as np
import pytest
import torch

from attnflow.inference import (
    AttentionLayer,
    AttentionParameters,
    GaussianWorld,
    MixtureWorld,
    attend,
    condition_number,
    fit,
    fit_linear_head,
    masked_token_loss,
    parameter_distance,
    pretext_matrix,
    probe_features,
    supervised_loss,
    train_erm,
)
from attnflow.random import spawn


def test_masked_token_loss_equals_explicit_leave_one_out():
    world = GaussianWorld()
    sets = world.sample(3, 5, torch.Generator().manual_seed(0))
    params = world.right_parameters(5)
    total = 0.0
    for b in range(3):
        for i in range(5):
            others = [j for j in range(5) if j != i]
            query = world.query_tokens(sets.keys[b : b + 1, i : i + 1])
            prediction = attend(params, query, sets.tokens[b : b + 1, others])
            total += float(((prediction[0, 0] - sets.values[b, i]) ** 2).sum())
    assert float(masked_token_loss(params, sets)) == pytest.approx(total / 15, rel=1e-12)


def test_supervised_loss_equals_explicit_average():
    world = GaussianWorld()
    context, labelled = world.sample(4, 7, torch.Generator().manual_seed(1)).split(5)
    params = world.right_parameters(5)
    prediction = attend(params, world.query_tokens(labelled.keys), context.tokens)
    expected = np.mean(((prediction - labelled.values) ** 2).sum(-1).numpy())
    assert float(supervised_loss(params, context, labelled)) == pytest.approx(expected, rel=1e-12)


def test_training_reduces_the_loss_and_learns_the_right_parameters():
    world = GaussianWorld(key_dim=2, value_dim=1, query_scale=0.5)
    result = train_erm(world, "self-supervised", 24, 128, seed=0, steps=200, n_test_sets=256)
    assert result.history[-1] < 0.5 * result.history[0]
    right = world.right_parameters(24)
    initial = AttentionLayer(world.token_dim, world.value_dim, seed=0).attention_parameters()
    start = parameter_distance(initial, right, world.key_dim)
    learned = parameter_distance(result.parameters, right, world.key_dim)
    assert learned < 0.2 < start
    # At the learned parameters the risk is close to the risk at the right ones.
    fresh = world.sample(256, 25, torch.Generator().manual_seed(99))
    at_right = float(masked_token_loss(right, fresh))
    assert float(masked_token_loss(result.parameters, fresh)) < 1.05 * at_right


def test_supervised_training_reduces_the_loss():
    world = GaussianWorld(key_dim=2, value_dim=1, query_scale=0.5)
    result = train_erm(world, "supervised", 16, 64, seed=1, steps=100, n_test_sets=256)
    assert result.history[-1] < 0.6 * result.history[0]
    assert result.gap == pytest.approx(result.test_loss - result.train_loss)


def test_fit_is_deterministic():
    world = GaussianWorld(key_dim=1, value_dim=1)
    runs = [train_erm(world, "supervised", 8, 16, seed=3, steps=20, n_test_sets=16) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].history, runs[1].history)
    child = spawn(3, 2)[1]
    runs = [train_erm(world, "supervised", 8, 16, seed=child, steps=20, n_test_sets=16) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].history, runs[1].history)


def test_training_data_and_initial_weights_come_from_independent_children():
    """The seed's children, not the seed itself, draw the data and the weights (no shared stream)."""
    world = GaussianWorld(key_dim=1, value_dim=1)
    result = train_erm(world, "supervised", 8, 16, seed=3, steps=1, lr=1e-12, n_test_sets=16)
    train_seed, _, init_seed = spawn(3, 3)
    initial = AttentionLayer(world.token_dim, world.value_dim, seed=init_seed).attention_parameters()
    torch.testing.assert_close(result.parameters.query, initial.query.detach(), rtol=0, atol=1e-9)
    context, labelled = world.sample(16, 9, train_seed).split(8)
    with torch.no_grad():
        assert result.history[0] == pytest.approx(supervised_loss(initial, context, labelled).item())


def test_parameter_distance_is_invariant_to_the_value_scale_gauge():
    world = GaussianWorld(key_dim=2, value_dim=2)
    right = world.right_parameters(1)
    for w in (2.0, -0.5):
        moved = AttentionParameters(right.query, right.key * w, right.value / w, right.beta)
        assert parameter_distance(moved, right, 2) == pytest.approx(0.0, abs=1e-12)
    off = AttentionParameters(right.query, right.key * 1.1, right.value, right.beta)
    assert parameter_distance(off, right, 2) > 0.01


def test_condition_number_matches_explicit_matrix_and_detects_rank_loss():
    rng = np.random.default_rng(0)
    components = rng.standard_normal((3, 2, 2))
    world = MixtureWorld(components)
    probes = torch.tensor([[1.0, 0.0], [0.3, -2.0]], dtype=torch.float64)
    columns = [np.concatenate([[1.0], *(a @ p for p in probes.numpy())]) for a in components]
    explicit = np.stack(columns, axis=1)
    np.testing.assert_allclose(pretext_matrix(world, probes), explicit, rtol=1e-12)
    assert condition_number(world, probes) == pytest.approx(np.linalg.cond(explicit), rel=1e-10)
    twins = MixtureWorld(np.stack([components[0], components[0], components[1]]))
    assert math.isinf(condition_number(twins, probes))


def test_probe_features_are_attention_at_the_probes():
    world = GaussianWorld()
    sets = world.sample(3, 6, torch.Generator().manual_seed(2))
    probes = torch.eye(2, dtype=torch.float64)
    params = world.right_parameters(6)
    features = probe_features(params, sets, probes)
    expected = attend(params, world.query_tokens(probes.expand(3, -1, -1)), sets.tokens).reshape(3, -1)
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-12)


def test_linear_head_recovers_an_exact_affine_map():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((50, 4))
    targets = features @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7
    head = fit_linear_head(features, targets)
    new = rng.standard_normal((5, 4))
    np.testing.assert_allclose(head(new), new @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7, rtol=1e-10)


def test_learning_inputs_are_checked():
    world = GaussianWorld()
    sets = world.sample(2, 1, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="at least 2 tokens"):
        masked_token_loss(world.right_parameters(1), sets)
    with pytest.raises(ValueError, match="objective"):
        train_erm(world, "unsupervised", 4, 4)
    with pytest.raises(ValueError, match="n_tokens"):
        train_erm(world, "supervised", 0, 4)
    with pytest.raises(ValueError, match="token_dim"):
        AttentionLayer(0, 1)
    with pytest.raises(ValueError, match="steps"):
        fit(lambda: torch.zeros(()), AttentionLayer(2, 1), steps=0)
    with pytest.raises(ValueError, match="probes"):
        condition_number(MixtureWorld(np.zeros((2, 1, 2))), torch.zeros(3, 3))
