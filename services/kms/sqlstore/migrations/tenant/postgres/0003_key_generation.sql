-- name: kms key generation counter
CREATE TABLE "kms_key_generation" (
	"id" bigint,
	"generation" bigint NOT NULL,
	PRIMARY KEY ("id")
);

-- The counter starts at the creation time in microseconds, not at 0: a
-- tenant deleted and registered again under the same id then does not
-- count through the values the old one had, so a replica that cached the
-- old tenant's keys at some generation cannot read that value again and
-- keep serving keys whose material is gone.
INSERT INTO "kms_key_generation" ("id", "generation") VALUES (1, (extract(epoch from clock_timestamp()) * 1000000)::bigint);
