"""Regenerate the shipped field prior ``bayes_scaling/data/field_discrepancy.json``.

Fits every public sweep of the shared data folder on the lower 65% of its
log-compute range, collects the errors of the larger runs and fits the
hierarchical meta-analysis of :mod:`bayes_scaling.extrapolation.field` to all of them.

Usage::

    nice -n 10 python tools/field_prior.py [--seed 0]
"""

from __future__ import annotations

import argparse
import sys

import bayes_scaling  # noqa: F401  (before JAX starts: host devices)
from bayes_scaling.extrapolation import field

NUTS = {"chains": 4, "draws": 500, "warmup": 500}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    errors = {}
    for sweep in field.field_sweeps():
        errors[sweep.name] = field.holdout_errors(sweep, seed=args.seed, **NUTS)[3]
        print(f"{sweep.name}: {len(errors[sweep.name])} held-out runs", file=sys.stderr)
    prior = field.fit_field_prior(errors, seed=args.seed,
                                  provenance=field.protocol_provenance(NUTS, args.seed))
    print(f"wrote {field.write_field_prior(prior)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
