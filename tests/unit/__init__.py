"""Unit tests: no trained model, no server, no database."""
