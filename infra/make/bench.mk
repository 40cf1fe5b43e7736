# Performance benchmarks (benchmarks/). Included by the top Makefile; uses $(PY) from it.
# `make bench` needs MariaDB on 127.0.0.1:3306 (root, empty password) and `make build` output.
BENCH_TIERS ?= 10000,100000

bench: install ## Run the benchmarks and rewrite benchmarks/RESULTS.md (BENCH_TIERS=10000,100000,1000000)
	$(PY) -m benchmarks.run --tiers $(BENCH_TIERS) --command "make bench BENCH_TIERS=$(BENCH_TIERS)"

bench-smoke: install ## Benchmarks in smoke mode: tiny sizes, checks they still run (what CI runs)
	$(PY) -m benchmarks.run --smoke

.PHONY: bench bench-smoke
