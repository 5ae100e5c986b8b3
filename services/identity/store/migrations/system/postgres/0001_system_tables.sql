-- name: identity system tables
CREATE TABLE "identity_tenants" (
	"id" varchar(36),
	"name" varchar(255) NOT NULL,
	"demo" boolean NOT NULL DEFAULT false,
	"created_at" timestamptz,
	PRIMARY KEY ("id")
);

CREATE TABLE "identity_client_index" (
	"client_id" varchar(255),
	"tenant_id" varchar(36) NOT NULL,
	PRIMARY KEY ("client_id")
);

CREATE INDEX "idx_identity_client_index_tenant_id" ON "identity_client_index" ("tenant_id");

CREATE TABLE "identity_signing_keys" (
	"kid" varchar(64),
	"algorithm" varchar(16) NOT NULL,
	"public_der" bytea NOT NULL,
	"wrapped_private" bytea NOT NULL,
	"published_at" timestamptz NOT NULL,
	"signs_from" timestamptz NOT NULL,
	"created_at" timestamptz,
	PRIMARY KEY ("kid")
);

CREATE TABLE "identity_sessions" (
	"id_hash" varchar(64),
	"tenant_id" varchar(36) NOT NULL,
	"user_id" varchar(36) NOT NULL,
	"auth_time" timestamptz NOT NULL,
	"expires_at" timestamptz NOT NULL,
	PRIMARY KEY ("id_hash")
);

CREATE INDEX "idx_identity_sessions_tenant_id" ON "identity_sessions" ("tenant_id");

CREATE TABLE "identity_auth_requests" (
	"id_hash" varchar(64),
	"tenant_id" varchar(36) NOT NULL,
	"client_id" varchar(255) NOT NULL,
	"redirect_uri" varchar(2048) NOT NULL,
	"scope" varchar(2048) NOT NULL,
	"state" varchar(2048),
	"nonce" varchar(2048),
	"code_challenge" varchar(128) NOT NULL,
	"audience" varchar(2048) NOT NULL,
	"prompt_login" boolean,
	"expires_at" timestamptz NOT NULL,
	PRIMARY KEY ("id_hash")
);

CREATE INDEX "idx_identity_auth_requests_tenant_id" ON "identity_auth_requests" ("tenant_id");
