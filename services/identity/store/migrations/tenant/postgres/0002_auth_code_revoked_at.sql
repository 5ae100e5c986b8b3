-- name: auth code revocation marker
-- A replayed code revokes what it produced; a redemption still in flight
-- checks the marker after saving its tokens.
ALTER TABLE "auth_codes" ADD COLUMN "revoked_at" timestamptz;
