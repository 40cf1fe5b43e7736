"""sam local tests (podman; marker sam)."""
