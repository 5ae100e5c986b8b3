-- name: create barrier tables
-- IF NOT EXISTS: a database created by the barrier of before versioned
-- migrations (same tables, same columns, nothing recorded) is adopted.
CREATE TABLE IF NOT EXISTS barrier_meta (
	id INTEGER NOT NULL PRIMARY KEY,
	salt BLOB NOT NULL,
	secrets INTEGER NOT NULL,
	threshold INTEGER NOT NULL,
	root_version INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	rotated_at DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS barrier_secrets (
	fingerprint VARCHAR(64) NOT NULL PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS barrier_root_keys (
	subset VARCHAR(64) NOT NULL PRIMARY KEY,
	root_version INTEGER NOT NULL,
	wrapped BLOB NOT NULL,
	created_at DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS barrier_tenant_keys (
	key_id VARCHAR(36) NOT NULL PRIMARY KEY,
	tenant VARCHAR(36) NOT NULL,
	generation INTEGER NOT NULL,
	root_version INTEGER NOT NULL,
	wrapped BLOB NOT NULL,
	created_at DATETIME NOT NULL
);

-- One KEK per (tenant, generation): concurrent first use across processes
-- relies on it (ON CONFLICT DO NOTHING + re-read).
CREATE UNIQUE INDEX IF NOT EXISTS barrier_tenant_keys_tenant_generation
	ON barrier_tenant_keys (tenant, generation);
