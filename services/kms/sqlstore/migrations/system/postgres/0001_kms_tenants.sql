-- name: kms_tenants
CREATE TABLE "kms_tenants" (
	"id" varchar(36),
	"name" varchar(255) NOT NULL,
	"demo" boolean NOT NULL,
	"created_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ux_kms_tenants_name" ON "kms_tenants" ("name");
