-- name: change generation
-- A counter raised in the same transaction as every change that withdraws
-- something a replica may have cached: a revoked token or refresh family, a
-- changed, disabled or deleted client, a changed or deleted user. Replicas
-- read it to learn that their caches of validated tokens and clients of the
-- tenant are stale. One row, created here, so a change only updates it.
CREATE TABLE "change_generation" (
	"id" integer,
	"value" integer NOT NULL,
	PRIMARY KEY ("id")
);

INSERT INTO "change_generation" ("id", "value") VALUES (1, 0);
