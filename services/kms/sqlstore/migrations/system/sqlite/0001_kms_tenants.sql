-- name: kms_tenants
CREATE TABLE "kms_tenants" (
	"id" text,
	"name" text NOT NULL,
	"demo" numeric NOT NULL,
	"created_at" datetime,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ux_kms_tenants_name" ON "kms_tenants" ("name");
