-- name: client authentication method
-- How each client authenticates (token_endpoint_auth_method), and for
-- tls_client_auth clients the certificate SAN they are registered with
-- (RFC 8705). The columns stay nullable: a NOT NULL column added to a filled
-- table needs a default, and no single default fits every client. Existing
-- clients get the method they have been using: their secret, or none.
ALTER TABLE "clients" ADD COLUMN "token_endpoint_auth_method" text;

ALTER TABLE "clients" ADD COLUMN "tls_client_auth_san_uri" text;

ALTER TABLE "clients" ADD COLUMN "tls_client_auth_san_dns" text;

UPDATE "clients" SET "token_endpoint_auth_method" = CASE
	WHEN "secret_hash" IS NULL OR "secret_hash" = '' THEN 'none'
	ELSE 'client_secret_basic'
END WHERE "token_endpoint_auth_method" IS NULL;
