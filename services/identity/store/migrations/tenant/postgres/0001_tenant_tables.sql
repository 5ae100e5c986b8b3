-- name: identity tenant tables
CREATE TABLE "users" (
	"id" varchar(36),
	"username" varchar(255) NOT NULL,
	"password_hash" varchar(255) NOT NULL,
	"name" varchar(255),
	"email" varchar(255),
	"roles" varchar(1024),
	"disabled" boolean NOT NULL DEFAULT false,
	"created_at" timestamptz,
	"updated_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "idx_users_username" ON "users" ("username");

CREATE TABLE "clients" (
	"client_id" varchar(255),
	"name" varchar(255) NOT NULL,
	"kind" varchar(32) NOT NULL,
	"secret_hash" varchar(255),
	"redirect_uris" varchar(8192),
	"post_logout_redirect_uris" varchar(8192),
	"grant_types" varchar(1024),
	"scopes" varchar(4096),
	"audiences" varchar(4096),
	"can_introspect" boolean NOT NULL DEFAULT false,
	"disabled" boolean NOT NULL DEFAULT false,
	"created_at" timestamptz,
	"updated_at" timestamptz,
	PRIMARY KEY ("client_id")
);

CREATE TABLE "consents" (
	"user_id" varchar(36),
	"client_id" varchar(255),
	"scope_key" varchar(2048),
	"created_at" timestamptz,
	PRIMARY KEY ("user_id","client_id","scope_key")
);

CREATE TABLE "auth_codes" (
	"id_hash" varchar(64),
	"client_id" varchar(255) NOT NULL,
	"user_id" varchar(36) NOT NULL,
	"redirect_uri" varchar(2048) NOT NULL,
	"scope" varchar(2048) NOT NULL,
	"nonce" varchar(2048),
	"code_challenge" varchar(128) NOT NULL,
	"audience" varchar(2048) NOT NULL,
	"auth_time" timestamptz,
	"expires_at" timestamptz NOT NULL,
	"used_at" timestamptz,
	"created_at" timestamptz,
	PRIMARY KEY ("id_hash")
);

CREATE TABLE "refresh_tokens" (
	"id_hash" varchar(64),
	"family_id" varchar(36) NOT NULL,
	"client_id" varchar(255) NOT NULL,
	"user_id" varchar(36) NOT NULL,
	"scope" varchar(2048) NOT NULL,
	"audience" varchar(2048) NOT NULL,
	"nonce" varchar(2048),
	"auth_time" timestamptz,
	"code_hash" varchar(64),
	"expires_at" timestamptz NOT NULL,
	"used_at" timestamptz,
	"revoked_at" timestamptz,
	"created_at" timestamptz,
	PRIMARY KEY ("id_hash")
);

CREATE INDEX "idx_refresh_tokens_code_hash" ON "refresh_tokens" ("code_hash");

CREATE INDEX "idx_refresh_tokens_family_id" ON "refresh_tokens" ("family_id");

CREATE TABLE "access_tokens" (
	"jti" varchar(64),
	"client_id" varchar(255) NOT NULL,
	"subject" varchar(255) NOT NULL,
	"family_id" varchar(36),
	"code_hash" varchar(64),
	"expires_at" timestamptz NOT NULL,
	"revoked_at" timestamptz,
	"created_at" timestamptz,
	PRIMARY KEY ("jti")
);

CREATE INDEX "idx_access_tokens_code_hash" ON "access_tokens" ("code_hash");

CREATE INDEX "idx_access_tokens_family_id" ON "access_tokens" ("family_id");
