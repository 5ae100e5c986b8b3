-- name: kms api keys and shared secrets
CREATE TABLE "kms_api_keys" (
	"id" text,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"scopes" text NOT NULL,
	"hash" blob NOT NULL,
	"created_by" text NOT NULL DEFAULT '',
	"created_at" datetime,
	"expires_at" datetime,
	"revoked_at" datetime,
	PRIMARY KEY ("id")
);

CREATE INDEX "idx_kms_api_keys_tenant_id" ON "kms_api_keys" ("tenant_id");

CREATE TABLE "kms_secrets" (
	"name" text,
	"wrapped" blob NOT NULL,
	"created_at" datetime,
	PRIMARY KEY ("name")
);
