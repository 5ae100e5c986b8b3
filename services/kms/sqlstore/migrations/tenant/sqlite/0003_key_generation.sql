-- name: kms key generation counter
CREATE TABLE "kms_key_generation" (
	"id" integer,
	"generation" integer NOT NULL,
	PRIMARY KEY ("id")
);

INSERT INTO "kms_key_generation" ("id", "generation") VALUES (1, 0);
