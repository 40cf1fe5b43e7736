"""Training: read the store, build features, fit and evaluate, export the predictor, publish."""


class TrainingError(RuntimeError):
    """The data cannot train a model (too few customers or genres). Here, not in ``fit``, so the
    command line can name it without importing scikit-learn."""
