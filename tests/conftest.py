"""Shared fixtures. Importing bayes_scaling first configures host devices for parallel chains.

Sampler seeds
-------------
Every test whose outcome depends on a sampler trajectory takes its seed from the
``seed`` fixture, so the suite can be re-run under other trajectories::

    BAYES_SCALING_TEST_SEED=1,2,3,4,5 make test     # each sampler test once per seed
    make test-seeds                                 # the same, seeds 1-5

Default: one seed, 0. A test that fails under some seed is a defect of the test (or
of the library), never a reason to pin the seed.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

import bayes_scaling  # noqa: E402,F401  (before jax initialises: host devices)


def _test_seeds() -> list[int]:
    text = os.environ.get("BAYES_SCALING_TEST_SEED", "0")
    try:
        seeds = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise pytest.UsageError(
            f"BAYES_SCALING_TEST_SEED must be comma-separated integers, got {text!r}") from None
    return seeds or [0]


SEEDS = _test_seeds()


@pytest.fixture(scope="session", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def seed(request) -> int:
    """The sampler seed of this run of the suite (``BAYES_SCALING_TEST_SEED``)."""
    return request.param


@pytest.fixture(scope="session")
def example_fit(seed):
    """One full-size fit of the bundled example, shared by tests that only read it."""
    return bayes_scaling.fit(bayes_scaling.example_runs(seed=0), law="chinchilla", seed=seed)
