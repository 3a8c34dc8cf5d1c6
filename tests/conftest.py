"""Shared fixtures. Importing bayes_scaling first configures host devices for parallel chains."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

import bayes_scaling  # noqa: E402,F401  (before jax initialises: host devices)


@pytest.fixture(scope="session")
def example_fit():
    """One full-size fit of the bundled example, shared by tests that only read it."""
    return bayes_scaling.fit(bayes_scaling.example_runs(seed=0), law="chinchilla", seed=0)
