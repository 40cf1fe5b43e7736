"""The test suites (a package: tests.helpers is imported by name, never found by path)."""
