-- name: kms api keys and shared secrets
CREATE TABLE "kms_api_keys" (
	"id" varchar(36),
	"tenant_id" varchar(36) NOT NULL,
	"name" varchar(255) NOT NULL,
	"scopes" text NOT NULL,
	"hash" bytea NOT NULL,
	"created_by" varchar(255) NOT NULL DEFAULT '',
	"created_at" timestamptz,
	"expires_at" timestamptz,
	"revoked_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE INDEX "idx_kms_api_keys_tenant_id" ON "kms_api_keys" ("tenant_id");

CREATE TABLE "kms_secrets" (
	"name" varchar(255),
	"wrapped" bytea NOT NULL,
	"created_at" timestamptz,
	PRIMARY KEY ("name")
);
