-- name: kms_realm_users
CREATE TABLE "kms_realm_users" (
	"id" text,
	"realm" text NOT NULL,
	"username" text NOT NULL,
	"password_hash" text NOT NULL,
	"roles" text NOT NULL,
	"tenant_id" text NOT NULL,
	"enabled" numeric NOT NULL,
	"email" text NOT NULL DEFAULT '',
	"display_name" text NOT NULL DEFAULT '',
	"metadata" text NOT NULL DEFAULT '',
	"created_at" datetime,
	"updated_at" datetime,
	PRIMARY KEY ("id")
);

CREATE INDEX "idx_kms_realm_users_tenant_id" ON "kms_realm_users" ("tenant_id");

CREATE UNIQUE INDEX "ux_kms_realm_users_realm_username" ON "kms_realm_users" ("realm","username");
