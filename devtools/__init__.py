"""Development tools kept out of the Lambda layer: the local HTTP server, the synthetic store
and the demo. ``python -m devtools serve|generate``.
"""
