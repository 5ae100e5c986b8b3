-- name: identity shared secrets
CREATE TABLE "identity_secrets" (
	"name" varchar(255),
	"wrapped" bytea NOT NULL,
	"created_at" timestamptz,
	PRIMARY KEY ("name")
);
