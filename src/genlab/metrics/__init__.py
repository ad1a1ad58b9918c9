"""Metrics: ELBO/IWAE helpers and (later) sample-quality metrics."""
