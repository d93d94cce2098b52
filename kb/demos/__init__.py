"""Runnable demos of the reference implementations: registry, parameter models, an isolated
runner with a time limit, and plots."""
