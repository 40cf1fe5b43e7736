# SAM build and static checks of template.yaml. Included by the top Makefile
# (uses $(SAM), $(CHECKOV) from tools.mk and $(PY)/$(VENV) from the Makefile).
SAM_BUILD_DIR := .aws-sam/build
export SAM_CLI_TELEMETRY := 0

build: $(SAM) ## sam build (BuildMethod makefile: pip fetches manylinux wheels, no Docker)
	$(SAM) build --template-file template.yaml

validate: $(SAM) ## sam validate --lint (SAM transform + cfn-lint rules)
	$(SAM) validate --template-file template.yaml --lint

cfn-lint: ## cfn-lint on template.yaml with the venv's pinned cfn-lint
	@test -x $(VENV)/bin/cfn-lint || $(MAKE) --no-print-directory install
	$(VENV)/bin/cfn-lint template.yaml

checkov: $(CHECKOV) ## checkov on template.yaml: zero failed checks (suppressions in infra/checkov.yaml)
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --config-file infra/checkov.yaml

size-check: ## After build: unzipped size of each function + layers (fails above 250 MiB)
	@test -x $(PY) || $(MAKE) --no-print-directory install
	$(PY) infra/scripts/size_check.py $(SAM_BUILD_DIR)

sam-checks: ## validate, cfn-lint, checkov, build, size-check
	$(MAKE) --no-print-directory validate
	$(MAKE) --no-print-directory cfn-lint
	$(MAKE) --no-print-directory checkov
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory size-check

.PHONY: build validate cfn-lint checkov size-check sam-checks
