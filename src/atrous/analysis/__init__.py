"""Receptive fields of real PyTorch models: torch.fx tracing, gradient cross-checks, effective receptive fields.

Importing this package imports torch; ``import atrous`` alone does not.
"""
