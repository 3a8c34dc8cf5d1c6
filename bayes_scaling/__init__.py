"""bayes_scaling: Bayesian fitting of neural scaling laws."""
