-- name: identity shared secrets
CREATE TABLE "identity_secrets" (
	"name" text,
	"wrapped" blob NOT NULL,
	"created_at" datetime,
	PRIMARY KEY ("name")
);
