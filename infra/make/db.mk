# The Amazon RDS CA bundle that training verifies database servers against (DB_TLS, see
# infra/deploy.md). The repository ships none: this fetches it from AWS into RDS_CA_DIR
# (git-ignored) with its SHA-256 recorded beside it; the train layer build ships it from there.
# RDS_CA_SHA256=<hex>: refuse a bundle with any other hash (pin what your security team reviewed).
# RDS_CA_URL=file:///path: a copy downloaded from AWS on another machine (then pin its hash).
RDS_CA_URL ?= https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RDS_CA_DIR ?= var/rds-ca
RDS_CA_SHA256 ?=

rds-ca-bundle: ## Fetch the Amazon RDS CA bundle into var/rds-ca and record its SHA-256 (needs network; RDS_CA_SHA256= pins it)
	@sh infra/scripts/rds_ca.sh fetch "$(RDS_CA_URL)" "$(RDS_CA_DIR)" "$(RDS_CA_SHA256)"

.PHONY: rds-ca-bundle
