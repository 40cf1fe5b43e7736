"""Training: read the store, build features, fit and evaluate, export the predictor, publish."""
