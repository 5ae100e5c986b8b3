-- name: kms_realm_users
CREATE TABLE "kms_realm_users" (
	"id" varchar(36),
	"realm" varchar(128) NOT NULL,
	"username" varchar(128) NOT NULL,
	"password_hash" text NOT NULL,
	"roles" text NOT NULL,
	"tenant_id" varchar(36) NOT NULL,
	"enabled" boolean NOT NULL,
	"email" text NOT NULL DEFAULT '',
	"display_name" text NOT NULL DEFAULT '',
	"metadata" text NOT NULL DEFAULT '',
	"created_at" timestamptz,
	"updated_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE INDEX "idx_kms_realm_users_tenant_id" ON "kms_realm_users" ("tenant_id");

CREATE UNIQUE INDEX "ux_kms_realm_users_realm_username" ON "kms_realm_users" ("realm","username");
