# Performance benchmarks (benchmarks/). Included by the top Makefile; uses $(PY) from it.
# `make bench` needs MariaDB on 127.0.0.1:3306 (root, empty password) and `make build` output.
BENCH_TIERS ?= 10000,100000

bench: install ## Run the benchmarks and rewrite benchmarks/RESULTS.md (BENCH_TIERS=10000,100000,1000000)
	$(PY) -m benchmarks.run --tiers $(BENCH_TIERS) --command "make bench BENCH_TIERS=$(BENCH_TIERS)"

bench-smoke: install ## Benchmarks in smoke mode: tiny sizes, checks they still run (what CI runs)
	$(PY) -m benchmarks.run --smoke

SCALE_TIERS ?= 1000000,3000000

bench-scale: install ## Training at scale (issue 20): generate + train, incremental nightly (SCALE_TIERS=1000000,3000000,10000000)
	nice -n 10 $(PY) -m benchmarks.scale --tiers $(SCALE_TIERS) --command "make bench-scale SCALE_TIERS=$(SCALE_TIERS)"

.PHONY: bench bench-smoke bench-scale
