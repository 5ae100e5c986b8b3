-- name: kms key generation counter
CREATE TABLE "kms_key_generation" (
	"id" bigint,
	"generation" bigint NOT NULL,
	PRIMARY KEY ("id")
);

INSERT INTO "kms_key_generation" ("id", "generation") VALUES (1, 0);
