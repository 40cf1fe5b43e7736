"""Reliability tests: faults, hostile inputs, load, version integrity."""
