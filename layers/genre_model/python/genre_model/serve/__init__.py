"""Serving: the predictor, the model cache, the predict service and its HTTP surface.

Nothing here imports the train wing, scikit-learn, scipy or pandas.
"""
