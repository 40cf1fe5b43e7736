# Command-line tools kept out of the project's venv: their pins clash with ours.
TOOLS := .tools
SAM := $(CURDIR)/$(TOOLS)/sam/bin/sam
CHECKOV := $(CURDIR)/$(TOOLS)/checkov/bin/checkov
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30

$(SAM):
	$(PYTHON) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install --quiet --upgrade pip
	$(TOOLS)/sam/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)

$(CHECKOV):
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install --quiet --upgrade pip
	$(TOOLS)/checkov/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

tools: $(SAM) $(CHECKOV) ## Install sam and checkov into .tools/ (separate venvs)

.PHONY: tools
