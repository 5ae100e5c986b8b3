package load

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PostgresDatabase is an empty database created for one run, so that the
// numbers never depend on what an earlier run left behind.
type PostgresDatabase struct {
	Name    string
	DSNFile string // 0600 file holding the DSN of the new database
	server  string
	dir     string
}

// CreatePostgresDatabase creates load_<uuidv7> on the server of dsn and
// writes the new database's DSN to a private temporary file (the demo reads
// secrets from files only).
func CreatePostgresDatabase(ctx context.Context, dsn string) (*PostgresDatabase, error) {
	name := "load_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
	dbDSN, err := withDatabase(dsn, name)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "passthru-load-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for the DSN file: %w", err)
	}
	p := &PostgresDatabase{Name: name, DSNFile: filepath.Join(dir, "postgres-dsn"), server: dsn, dir: dir}
	if err := os.WriteFile(p.DSNFile, []byte(dbDSN+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("write the DSN file: %w", err)
	}
	if err := adminExec(ctx, dsn, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return p, nil
}

// Drop removes the database (ending the sessions still in it) and the DSN
// file.
func (p *PostgresDatabase) Drop() error {
	defer os.RemoveAll(p.dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, p.server, "DROP DATABASE IF EXISTS "+pgx.Identifier{p.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", p.Name, err)
	}
	return nil
}

// adminExec runs one statement on its own connection: CREATE and DROP
// DATABASE cannot run in a transaction block.
func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(sql)[0]+" "+strings.Fields(sql)[1], err)
	}
	return nil
}

// withDatabase returns dsn with its database replaced by name (a plain
// identifier), in URL or keyword/value form.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url errors echo the input, password included: say less.
			return "", fmt.Errorf("the PostgreSQL DSN is not a valid URL")
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form a later keyword overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}
