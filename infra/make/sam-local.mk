# `sam local` on machines without a Docker engine (podman + a local stand-in of the Lambda Python 3.13
# image). Included by the top Makefile; uses $(SAM) from tools.mk and the `build` target from sam.mk.
# Details and the networking notes: infra/sam-local/README.md.
SAM_LOCAL_DIR ?= $(CURDIR)/.tools/sam-local
SAM_LOCAL_ENV := $(SAM_LOCAL_DIR)/env.sh
SAM_LOCAL_TEMPLATE ?= .aws-sam/build/template.yaml
FUNCTION ?= PredictFunction
EVENT ?= events/predict-genre.json
ENV_VARS ?= env.json
PORT ?= 3000
MOTO_PORT ?= 5005
# Empty = podman's default bridge, where host services are at host.containers.internal.
# (`--docker-network host` is a no-op in SAM CLI 1.170: it does not give the container the host's network.)
SAM_DOCKER_NETWORK ?=
SAM_LOCAL_FLAGS = --skip-pull-image --env-vars $(ENV_VARS) $(if $(SAM_DOCKER_NETWORK),--docker-network $(SAM_DOCKER_NETWORK))
# Run a command with DOCKER_HOST/CONTAINERS_CONF from setup.sh (nothing is exported with a real Docker engine).
SAM_LOCAL_RUN = set -a; if [ -f $(SAM_LOCAL_ENV) ]; then . $(SAM_LOCAL_ENV); fi; set +a; SAM_CLI_TELEMETRY=0

local-lambda: $(SAM) ## Make sam local work without Docker (podman, API socket, stand-in Lambda image)
	@SAM=$(SAM) SAM_LOCAL_DIR=$(SAM_LOCAL_DIR) bash infra/sam-local/setup.sh

invoke: local-lambda ## make build, then sam local invoke FUNCTION=PredictFunction EVENT=events/predict-genre.json
	@$(MAKE) --no-print-directory build
	$(SAM_LOCAL_RUN) $(SAM) local invoke $(FUNCTION) -t $(SAM_LOCAL_TEMPLATE) -e $(EVENT) $(SAM_LOCAL_FLAGS)

start-api: local-lambda ## make build, then sam local start-api on http://127.0.0.1:PORT (default 3000)
	@$(MAKE) --no-print-directory build
	$(SAM_LOCAL_RUN) $(SAM) local start-api -t $(SAM_LOCAL_TEMPLATE) --port $(PORT) $(SAM_LOCAL_FLAGS)

local-moto: ## moto server on 0.0.0.0:5005 (MOTO_PORT), the endpoint env.json gives the functions
	@test -x $(VENV)/bin/moto_server || $(MAKE) --no-print-directory install
	S3_IGNORE_SUBDOMAIN_BUCKETNAME=true $(VENV)/bin/moto_server -H 0.0.0.0 -p $(MOTO_PORT)

local-stop: ## Stop the podman API service and the MariaDB forwarder started by local-lambda
	@for f in $(SAM_LOCAL_DIR)/podman.pid $(SAM_LOCAL_DIR)/db-forward.pid; do \
		if [ -f $$f ]; then kill $$(cat $$f) 2>/dev/null && echo "stopped $$(basename $$f .pid)"; rm -f $$f; fi; \
	done; true

.PHONY: local-lambda invoke start-api local-moto local-stop
