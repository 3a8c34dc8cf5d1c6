"""Study code (the Chinchilla replication and backtest): outside the library's import graph.

Nothing in :mod:`bayes_scaling` imports this package; import its modules directly,
e.g. ``from bayes_scaling.studies import replication``.
"""
