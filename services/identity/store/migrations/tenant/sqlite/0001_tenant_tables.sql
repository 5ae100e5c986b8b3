-- name: identity tenant tables
CREATE TABLE "users" (
	"id" text,
	"username" text NOT NULL,
	"password_hash" text NOT NULL,
	"name" text,
	"email" text,
	"roles" text,
	"disabled" numeric NOT NULL DEFAULT false,
	"created_at" datetime,
	"updated_at" datetime,
	PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "idx_users_username" ON "users" ("username");

CREATE TABLE "clients" (
	"client_id" text,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"secret_hash" text,
	"redirect_uris" text,
	"post_logout_redirect_uris" text,
	"grant_types" text,
	"scopes" text,
	"audiences" text,
	"can_introspect" numeric NOT NULL DEFAULT false,
	"disabled" numeric NOT NULL DEFAULT false,
	"created_at" datetime,
	"updated_at" datetime,
	PRIMARY KEY ("client_id")
);

CREATE TABLE "consents" (
	"user_id" text,
	"client_id" text,
	"scope_key" text,
	"created_at" datetime,
	PRIMARY KEY ("user_id","client_id","scope_key")
);

CREATE TABLE "auth_codes" (
	"id_hash" text,
	"client_id" text NOT NULL,
	"user_id" text NOT NULL,
	"redirect_uri" text NOT NULL,
	"scope" text NOT NULL,
	"nonce" text,
	"code_challenge" text NOT NULL,
	"audience" text NOT NULL,
	"auth_time" datetime,
	"expires_at" datetime NOT NULL,
	"used_at" datetime,
	"created_at" datetime,
	PRIMARY KEY ("id_hash")
);

CREATE TABLE "refresh_tokens" (
	"id_hash" text,
	"family_id" text NOT NULL,
	"client_id" text NOT NULL,
	"user_id" text NOT NULL,
	"scope" text NOT NULL,
	"audience" text NOT NULL,
	"nonce" text,
	"auth_time" datetime,
	"code_hash" text,
	"expires_at" datetime NOT NULL,
	"used_at" datetime,
	"revoked_at" datetime,
	"created_at" datetime,
	PRIMARY KEY ("id_hash")
);

CREATE INDEX "idx_refresh_tokens_code_hash" ON "refresh_tokens" ("code_hash");

CREATE INDEX "idx_refresh_tokens_family_id" ON "refresh_tokens" ("family_id");

CREATE TABLE "access_tokens" (
	"jti" text,
	"client_id" text NOT NULL,
	"subject" text NOT NULL,
	"family_id" text,
	"code_hash" text,
	"expires_at" datetime NOT NULL,
	"revoked_at" datetime,
	"created_at" datetime,
	PRIMARY KEY ("jti")
);

CREATE INDEX "idx_access_tokens_code_hash" ON "access_tokens" ("code_hash");

CREATE INDEX "idx_access_tokens_family_id" ON "access_tokens" ("family_id");
