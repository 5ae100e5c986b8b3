-- name: identity system tables
CREATE TABLE "identity_tenants" (
	"id" text,
	"name" text NOT NULL,
	"demo" numeric NOT NULL DEFAULT false,
	"created_at" datetime,
	PRIMARY KEY ("id")
);

CREATE TABLE "identity_client_index" (
	"client_id" text,
	"tenant_id" text NOT NULL,
	PRIMARY KEY ("client_id")
);

CREATE INDEX "idx_identity_client_index_tenant_id" ON "identity_client_index" ("tenant_id");

CREATE TABLE "identity_signing_keys" (
	"kid" text,
	"algorithm" text NOT NULL,
	"public_der" blob NOT NULL,
	"wrapped_private" blob NOT NULL,
	"published_at" datetime NOT NULL,
	"signs_from" datetime NOT NULL,
	"created_at" datetime,
	PRIMARY KEY ("kid")
);

CREATE TABLE "identity_sessions" (
	"id_hash" text,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"auth_time" datetime NOT NULL,
	"expires_at" datetime NOT NULL,
	PRIMARY KEY ("id_hash")
);

CREATE INDEX "idx_identity_sessions_tenant_id" ON "identity_sessions" ("tenant_id");

CREATE TABLE "identity_auth_requests" (
	"id_hash" text,
	"tenant_id" text NOT NULL,
	"client_id" text NOT NULL,
	"redirect_uri" text NOT NULL,
	"scope" text NOT NULL,
	"state" text,
	"nonce" text,
	"code_challenge" text NOT NULL,
	"audience" text NOT NULL,
	"prompt_login" numeric,
	"expires_at" datetime NOT NULL,
	PRIMARY KEY ("id_hash")
);

CREATE INDEX "idx_identity_auth_requests_tenant_id" ON "identity_auth_requests" ("tenant_id");
