"""Bundles, the Predictor and export: everything after training."""
