-- name: kms keys, versions and audit events
CREATE TABLE "kms_elastic_keys" (
	"id" text,
	"name" text NOT NULL,
	"description" text NOT NULL DEFAULT '',
	"algorithm" text NOT NULL,
	"purpose" text NOT NULL,
	"status" text NOT NULL,
	"versioning_allowed" numeric NOT NULL,
	"created_at" datetime,
	"updated_at" datetime,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ux_kms_elastic_keys_name" ON "kms_elastic_keys" ("name");

CREATE TABLE "kms_material_keys" (
	"id" text,
	"elastic_key_id" text NOT NULL,
	"version" integer NOT NULL,
	"status" text NOT NULL,
	"public_jwk" text NOT NULL DEFAULT '',
	"wrapped" blob,
	"created_at" datetime,
	"updated_at" datetime,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ux_kms_material_keys_version" ON "kms_material_keys" ("elastic_key_id","version");

CREATE TABLE "kms_audit_events" (
	"id" text,
	"time" datetime NOT NULL,
	"principal" text NOT NULL,
	"realm" text NOT NULL DEFAULT '',
	"method" text NOT NULL DEFAULT '',
	"elastic_key_id" text NOT NULL DEFAULT '',
	"material_key_id" text NOT NULL DEFAULT '',
	"operation" text NOT NULL,
	"outcome" text NOT NULL,
	"error_code" text NOT NULL DEFAULT '',
	"request_id" text NOT NULL DEFAULT '',
	"target" text NOT NULL DEFAULT '',
	PRIMARY KEY ("id")
);

CREATE INDEX "idx_kms_audit_events_elastic_key_id" ON "kms_audit_events" ("elastic_key_id");
