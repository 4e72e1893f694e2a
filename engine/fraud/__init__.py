"""Fraud scoring: windowed features, a trained scorer with reasons, and a rules baseline."""
