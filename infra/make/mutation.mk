# Mutation testing (benchmarks/mutation.py, docs/mutation.md). Not part of CI: every module takes
# hours on a shared 2-core machine. MODULE=serve/batch.py runs one; MUTATION_CHILDREN caps mutmut.
MODULE ?=
MUTATION_CHILDREN ?= 2

mutation: install ## mutmut over the domain package (MODULE=contract.py for one); writes benchmarks/results/mutation.md
	$(PY) -m benchmarks.mutation run $(MODULE) --max-children $(MUTATION_CHILDREN)

mutation-report: install ## Rewrite benchmarks/results/mutation.md from the recorded runs
	$(PY) -m benchmarks.mutation report

.PHONY: mutation mutation-report
