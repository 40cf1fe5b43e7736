# The Amazon RDS CA bundle that training verifies database servers against (DB_TLS, see
# infra/deploy.md). The committed file and its SHA-256 are what builds and CI use; refreshing
# needs network and shows up as a diff of both files to review and commit.
RDS_CA_URL := https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RDS_CA_DIR := layers/genre_model/python/genre_model/train

rds-ca-bundle: ## Re-fetch the pinned Amazon RDS CA bundle and record its SHA-256 (needs network)
	curl --fail --silent --show-error --proto '=https' --tlsv1.2 --max-time 60 \
		-o "$(RDS_CA_DIR)/rds-ca-bundle.pem.new" "$(RDS_CA_URL)"
	grep -q 'BEGIN CERTIFICATE' "$(RDS_CA_DIR)/rds-ca-bundle.pem.new"
	mv "$(RDS_CA_DIR)/rds-ca-bundle.pem.new" "$(RDS_CA_DIR)/rds-ca-bundle.pem"
	cd "$(RDS_CA_DIR)" && sha256sum rds-ca-bundle.pem > rds-ca-bundle.pem.sha256
	@git diff --stat -- "$(RDS_CA_DIR)/rds-ca-bundle.pem"* || true

.PHONY: rds-ca-bundle
