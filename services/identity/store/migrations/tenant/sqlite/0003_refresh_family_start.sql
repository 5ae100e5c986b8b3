-- name: refresh token family start
-- Every token of a family shares one start, from which the family's absolute
-- lifetime counts. Existing families count from the creation of their oldest
-- remaining token: the closest to the original authorization still known.
-- The column stays nullable: a NOT NULL column added to a filled table needs
-- a default, which would be wrong (or, on SQLite, a table rebuild).
ALTER TABLE "refresh_tokens" ADD COLUMN "family_started_at" datetime;

UPDATE "refresh_tokens" SET "family_started_at" = (
	SELECT MIN(f."created_at") FROM "refresh_tokens" f WHERE f."family_id" = "refresh_tokens"."family_id"
) WHERE "family_started_at" IS NULL;
