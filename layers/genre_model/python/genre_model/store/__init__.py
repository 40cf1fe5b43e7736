"""Where versions live: the store protocol, S3, a local directory, and the registry."""
