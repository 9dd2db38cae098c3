"""Worlds: sampling and the exact Bayes references against brute force on small cases."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from attnflow.inference import GaussianWorld, MixtureWorld, RegressionWorld, TokenSets
from attnflow.random import spawn


def _mixture() -> MixtureWorld:
    rng = np.random.default_rng(3)
    return MixtureWorld(rng.standard_normal((3, 2, 2)), weights=[0.2, 0.5, 0.3], key_var=1.5, noise_var=0.7)


def test_mixture_posterior_matches_brute_force_joint_density():
    world = _mixture()
    sets = world.sample(4, 3, torch.Generator().manual_seed(1))
    posterior = world.posterior(sets)
    for b in range(sets.n_sets):
        joint = []
        for z in range(world.n_components):
            density = world.weights[z].item()
            for i in range(sets.n_tokens):
                k = sets.keys[b, i].numpy()
                v = sets.values[b, i].numpy()
                # The full token density p(k) p(v | k, z), keys included: they must cancel.
                density *= stats.multivariate_normal(np.zeros(2), 1.5 * np.eye(2)).pdf(k)
                density *= stats.multivariate_normal(world.components[z].numpy() @ k, 0.7 * np.eye(2)).pdf(v)
            joint.append(density)
        np.testing.assert_allclose(posterior[b], np.array(joint) / sum(joint), rtol=1e-10)


def test_mixture_predictive_mean_is_posterior_weighted_and_concentrates_on_truth():
    world = _mixture()
    sets = world.sample(16, 200, torch.Generator().manual_seed(2))
    posterior = world.posterior(sets)
    assert (posterior.argmax(axis=1) == sets.latent.numpy()).all()
    queries = world.sample_queries(16, 3, torch.Generator().manual_seed(3))
    np.testing.assert_allclose(
        world.predictive_mean(queries, sets), world.conditional_mean(queries, sets.latent), atol=1e-6
    )


def test_gaussian_posterior_matches_explicit_joint_gaussian_conditioning():
    world = GaussianWorld(key_dim=2, value_dim=2, latent_var=1.3, key_var=0.8, noise_var=0.4)
    sets = world.sample(3, 4, torch.Generator().manual_seed(4))
    post = world.posterior(sets)
    for b in range(3):
        keys, values = sets.keys[b].numpy(), sets.values[b].numpy()
        # vec(V) (token-major) = (K ⊗ ... ) vec(Z) + noise, written out entry by entry.
        design = np.zeros((4 * 2, 2 * 2))
        for i in range(4):
            for j in range(2):
                design[i * 2 + j, j * 2 : j * 2 + 2] = keys[i]
        cov_z = 1.3 * np.eye(4)
        cov_v = design @ cov_z @ design.T + 0.4 * np.eye(8)
        cross = cov_z @ design.T
        mean = cross @ np.linalg.solve(cov_v, values.reshape(-1))
        cov = cov_z - cross @ np.linalg.solve(cov_v, cross.T)
        np.testing.assert_allclose(post.mean[b].reshape(-1), mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(post.row_cov[b], cov[:2, :2], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(cov[:2, 2:], 0, atol=1e-12)


def test_gaussian_posterior_mean_matches_quadrature_in_one_dimension():
    world = GaussianWorld(key_dim=1, value_dim=1, latent_var=2.0, key_var=1.0, noise_var=0.5)
    sets = world.sample(2, 5, torch.Generator().manual_seed(5))
    post = world.posterior(sets)
    for b in range(2):
        k, v = sets.keys[b, :, 0].numpy(), sets.values[b, :, 0].numpy()

        def unnormalised(z, k=k, v=v):
            # Prior N(0, 2) times the likelihood of N(z k_i, 0.5), up to constants.
            return math.exp(-(z**2) / 4.0 - float(((v - z * k) ** 2).sum()) / 1.0)

        norm = integrate.quad(unnormalised, -20, 20, epsabs=0, epsrel=1e-11)[0]
        mean = integrate.quad(lambda z: z * unnormalised(z), -20, 20, epsabs=0, epsrel=1e-11)[0] / norm
        assert post.mean[b, 0, 0] == pytest.approx(mean, rel=1e-7)


def _harmonic_world(m: int = 3) -> RegressionWorld:
    return RegressionWorld(lambda k: torch.sin(m * torch.atan2(k[..., 1], k[..., 0]))[..., None])


def test_regression_kernel_mean_matches_bessel_closed_form():
    # For f(θ) = sin(mθ), averaging under the von Mises weight e^{β cos(θ - θ_q)} gives
    # (I_m(β) / I_0(β)) sin(m θ_q).
    world = _harmonic_world(3)
    queries = world.sample_queries(2, 3, torch.Generator().manual_seed(6))
    for beta in (0.5, 7.0, 60.0):
        expected = special.ive(3, beta) / special.ive(0, beta) * world.conditional_mean(queries, None)
        np.testing.assert_allclose(world.kernel_mean(queries, beta), expected, rtol=1e-7, atol=1e-12)


def test_regression_world_samples_on_the_circle_with_the_given_function():
    world = _harmonic_world(2)
    sets = world.sample(3, 50, torch.Generator().manual_seed(7))
    np.testing.assert_allclose(sets.keys.norm(dim=-1).numpy(), 1.0, atol=1e-12)
    residual = sets.values.numpy() - world.conditional_mean(sets.keys, None)
    assert residual.std().item() == pytest.approx(math.sqrt(world.noise_var), rel=0.15)
    assert world.right_parameters(1024).beta > world.right_parameters(16).beta


def test_sampling_is_reproducible_from_the_generator():
    world = GaussianWorld()
    a = world.sample(3, 5, torch.Generator().manual_seed(9))
    b = world.sample(3, 5, torch.Generator().manual_seed(9))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.latent, b.latent)


def test_a_seed_draws_as_its_root_generator_and_a_generator_is_threaded():
    world = GaussianWorld()
    assert torch.equal(
        world.sample(3, 5, seed=9).tokens, world.sample(3, 5, torch.Generator().manual_seed(9)).tokens
    )
    assert torch.equal(
        world.sample_queries(2, 4, 9), world.sample_queries(2, 4, torch.Generator().manual_seed(9))
    )
    child = spawn(9, 1)[0]
    assert torch.equal(world.sample(3, 5, child).tokens, world.sample(3, 5, child).tokens)
    generator = torch.Generator().manual_seed(9)
    first, second = world.sample(3, 5, generator), world.sample(3, 5, generator)
    assert not torch.equal(first.tokens, second.tokens)
    with pytest.raises(TypeError, match="seed"):
        world.sample(3, 5, -1)


def test_split_keeps_latent_and_tokens():
    sets = GaussianWorld().sample(2, 6, torch.Generator().manual_seed(0))
    first, rest = sets.split(4)
    assert first.n_tokens == 4 and rest.n_tokens == 2
    assert torch.equal(torch.cat([first.tokens, rest.tokens], 1), sets.tokens)
    assert first.latent is sets.latent


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: GaussianWorld(noise_var=0.0), "noise_var"),
        (lambda: GaussianWorld(key_var=-1.0), "key_var"),
        (lambda: GaussianWorld(latent_var=0.0), "latent_var"),
        (lambda: GaussianWorld(key_dim=0), "key_dim"),
        (lambda: MixtureWorld(np.zeros((2, 2))), "components"),
        (lambda: MixtureWorld(np.zeros((2, 1, 1)), weights=[0.5, 0.6]), "weights"),
        (lambda: MixtureWorld(np.zeros((2, 1, 1)), weights=[1.0]), "weights"),
        (lambda: RegressionWorld(lambda k: k, key_dim=2, value_dim=1), "function"),
        (lambda: RegressionWorld(lambda k: k[..., :1], key_dim=1), "key_dim"),
    ],
)
def test_bad_world_arguments_are_named(build, name):
    with pytest.raises((ValueError, TypeError), match=name):
        build()


def test_bad_sampling_and_query_arguments_are_named():
    world = GaussianWorld(key_dim=2)
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="n_tokens"):
        world.sample(2, 0, generator)
    with pytest.raises(ValueError, match="n_sets"):
        world.sample(0, 3, generator)
    sets = world.sample(2, 3, generator)
    with pytest.raises(ValueError, match="queries"):
        world.conditional_mean(torch.zeros(2, 1, 3, dtype=torch.float64), sets.latent)
    with pytest.raises(ValueError, match="queries"):
        world.predictive_mean(torch.zeros(3, 1, 2, dtype=torch.float64), sets)
    with pytest.raises(ValueError, match="key_dim"):
        world.posterior(TokenSets(torch.zeros(1, 2, 3), torch.zeros(1, 2, 2)))
    with pytest.raises(ValueError, match="key_dim 2"):
        RegressionWorld(lambda k: k[..., :1], key_dim=3).kernel_mean(torch.ones(1, 1, 3), 1.0)
