-- name: change generation
-- A counter raised in the same transaction as every change that withdraws
-- something a replica may have cached: a revoked token or refresh family, a
-- changed, disabled or deleted client, a changed or deleted user. Replicas
-- read it to learn that their caches of validated tokens and clients of the
-- tenant are stale. One row, created here, so a change only updates it. It
-- starts at the creation time in microseconds rather than zero, so a tenant
-- deleted and created again under the same id does not repeat the
-- generations a replica saw before.
CREATE TABLE "change_generation" (
	"id" bigint,
	"value" bigint NOT NULL,
	PRIMARY KEY ("id")
);

INSERT INTO "change_generation" ("id", "value") VALUES (1, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS bigint));
