"""Integration tests: trained models, the local server, moto, MariaDB."""
