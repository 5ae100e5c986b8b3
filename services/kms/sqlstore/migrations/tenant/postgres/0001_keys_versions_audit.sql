-- name: kms keys, versions and audit events
CREATE TABLE "kms_elastic_keys" (
	"id" varchar(36),
	"name" varchar(255) NOT NULL,
	"description" text NOT NULL DEFAULT '',
	"algorithm" varchar(32) NOT NULL,
	"purpose" varchar(16) NOT NULL,
	"status" varchar(16) NOT NULL,
	"versioning_allowed" boolean NOT NULL,
	"created_at" timestamptz,
	"updated_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ux_kms_elastic_keys_name" ON "kms_elastic_keys" ("name");

CREATE TABLE "kms_material_keys" (
	"id" varchar(36),
	"elastic_key_id" varchar(36) NOT NULL,
	"version" bigint NOT NULL,
	"status" varchar(16) NOT NULL,
	"public_jwk" text NOT NULL DEFAULT '',
	"wrapped" bytea,
	"created_at" timestamptz,
	"updated_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ux_kms_material_keys_version" ON "kms_material_keys" ("elastic_key_id","version");

CREATE TABLE "kms_audit_events" (
	"id" varchar(36),
	"time" timestamptz NOT NULL,
	"principal" varchar(255) NOT NULL,
	"realm" varchar(128) NOT NULL DEFAULT '',
	"method" varchar(16) NOT NULL DEFAULT '',
	"elastic_key_id" varchar(36) NOT NULL DEFAULT '',
	"material_key_id" varchar(36) NOT NULL DEFAULT '',
	"operation" varchar(64) NOT NULL,
	"outcome" varchar(16) NOT NULL,
	"error_code" varchar(64) NOT NULL DEFAULT '',
	"request_id" varchar(128) NOT NULL DEFAULT '',
	"target" varchar(64) NOT NULL DEFAULT '',
	PRIMARY KEY ("id")
);

CREATE INDEX "idx_kms_audit_events_elastic_key_id" ON "kms_audit_events" ("elastic_key_id");
