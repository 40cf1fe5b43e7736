# Command-line tools kept out of the project's venv: their pins clash with ours.
TOOLS := .tools
SAM := $(CURDIR)/$(TOOLS)/sam/bin/sam
CHECKOV := $(CURDIR)/$(TOOLS)/checkov/bin/checkov
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30

# Installed by uv ($(UV), from the top Makefile), as the project's venvs are.
$(SAM): | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)/sam
	VIRTUAL_ENV=$(CURDIR)/$(TOOLS)/sam $(UV) pip install aws-sam-cli==$(SAM_CLI_VERSION)

$(CHECKOV): | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)/checkov
	VIRTUAL_ENV=$(CURDIR)/$(TOOLS)/checkov $(UV) pip install checkov==$(CHECKOV_VERSION)

tools: $(SAM) $(CHECKOV) ## Install sam and checkov into .tools/ (separate venvs)

.PHONY: tools
