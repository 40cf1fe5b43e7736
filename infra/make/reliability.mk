# Reliability checks at full size: hostile inputs, properties, faults, secrets/IAM, then
# schemathesis (1,000+ generated cases) and a 60 s locust load test against the local server.
# `make test` runs the same suite with small sizes (150 cases, 5 s). Included by the top Makefile.
RELIABILITY_SCHEMATHESIS_CASES ?= 1000
RELIABILITY_LOAD_SECONDS ?= 60

test-reliability: install ## Reliability suite at full size: schemathesis 1000 cases + 60 s load
	RELIABILITY_SCHEMATHESIS_CASES=$(RELIABILITY_SCHEMATHESIS_CASES) \
	RELIABILITY_LOAD_SECONDS=$(RELIABILITY_LOAD_SECONDS) \
	$(PY) -m pytest tests/reliability -rA -s -p no:cacheprovider

.PHONY: test-reliability
