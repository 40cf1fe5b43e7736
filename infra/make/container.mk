# The container engine's training image (infra/container/Dockerfile, docs/scale.md). Building and
# pushing need docker (or podman) and AWS credentials; container-entry needs neither.
CONTAINER_TOOL ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
TRAIN_IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD)

container-image: ## Build the training image as genre-train:$(TRAIN_IMAGE_TAG) (docker or podman)
	@test -n "$(CONTAINER_TOOL)" || { echo "needs docker or podman (CONTAINER_TOOL=...)" >&2; exit 1; }
	$(CONTAINER_TOOL) build -f infra/container/Dockerfile -t genre-train:$(TRAIN_IMAGE_TAG) .

container-push: container-image ## Push it to REPOSITORY=<TrainImageRepositoryUri output>, then deploy with TrainImageTag
	@test -n "$(REPOSITORY)" || { echo "set REPOSITORY=<the stack's TrainImageRepositoryUri output>" >&2; exit 1; }
	aws ecr get-login-password | $(CONTAINER_TOOL) login --username AWS --password-stdin "$${REPOSITORY%%/*}"
	$(CONTAINER_TOOL) tag genre-train:$(TRAIN_IMAGE_TAG) "$(REPOSITORY):$(TRAIN_IMAGE_TAG)"
	$(CONTAINER_TOOL) push "$(REPOSITORY):$(TRAIN_IMAGE_TAG)"
	@echo "next: sam deploy --parameter-overrides TrainImageTag=$(TRAIN_IMAGE_TAG) TrainSubnetIds=... TrainSecurityGroupIds=..."

container-entry: install ## The image's ENTRYPOINT + CMD run here against MariaDB/SQLite and moto (no Docker)
	$(PY) -m pytest -p no:cacheprovider -q tests/integration/test_container_entry.py

.PHONY: container-image container-push container-entry
