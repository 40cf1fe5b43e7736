# The sized reliability checks at full size: schemathesis (1,000+ generated cases) and a 60 s
# locust load test against the local server (tests marked `reliability`). `make test` runs them
# small (150 cases, 5 s) with the rest of tests/reliability (hostile inputs, properties, faults,
# secrets/IAM), whose size does not change: they are not run twice. Included by the top Makefile.
RELIABILITY_SCHEMATHESIS_CASES ?= 1000
RELIABILITY_LOAD_SECONDS ?= 60

test-reliability: install ## Reliability suite at full size: schemathesis 1000 cases + 60 s load
	RELIABILITY_SCHEMATHESIS_CASES=$(RELIABILITY_SCHEMATHESIS_CASES) \
	RELIABILITY_LOAD_SECONDS=$(RELIABILITY_LOAD_SECONDS) \
	$(PY) -m pytest tests/reliability -m reliability -rA -s -p no:cacheprovider

.PHONY: test-reliability
