package db

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// The dialect directories of a SQL migration set, named as gorm names the
// dialects (Dialector.Name()).
var sqlDialects = []string{"sqlite", "postgres"}

// sqlNamePrefix starts the first line of every migration file: the name
// recorded in schema_migrations, which may hold spaces and commas that a
// file name cannot carry comfortably.
const sqlNamePrefix = "-- name: "

// SQLMigrations reads a migration set written as SQL, one file per version
// and dialect: dir/sqlite/NNNN_what.sql and dir/postgres/NNNN_what.sql. The
// file's first line is "-- name: <name recorded in schema_migrations>";
// the rest is statements, each ending with ';' at the end of a line, run
// in order inside the migration's transaction. Both dialects must have the
// same versions under the same names, so a version means one change on
// every backend.
//
// SQL, not gorm's AutoMigrate, because a recorded version must mean the
// same schema forever, while AutoMigrate creates whatever the structs say
// today.
func SQLMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	perDialect := make(map[string][]sqlFile, len(sqlDialects))
	for _, dialect := range sqlDialects {
		files, err := readSQLFiles(fsys, path.Join(dir, dialect))
		if err != nil {
			return nil, fmt.Errorf("migrations %s: %w", dir, err)
		}
		perDialect[dialect] = files
	}
	first := perDialect[sqlDialects[0]]
	for _, dialect := range sqlDialects[1:] {
		other := perDialect[dialect]
		if len(other) != len(first) {
			return nil, fmt.Errorf("migrations %s: %s has %d files, %s has %d", dir, sqlDialects[0], len(first), dialect, len(other))
		}
		for i := range first {
			if first[i].version != other[i].version || first[i].name != other[i].name {
				return nil, fmt.Errorf("migrations %s: %s has version %d %q where %s has version %d %q",
					dir, sqlDialects[0], first[i].version, first[i].name, dialect, other[i].version, other[i].name)
			}
		}
	}
	migrations := make([]Migration, 0, len(first))
	for i, f := range first {
		stmts := make(map[string][]string, len(sqlDialects))
		for _, dialect := range sqlDialects {
			stmts[dialect] = perDialect[dialect][i].statements
		}
		migrations = append(migrations, Migration{Version: f.version, Name: f.name, Up: func(tx *gorm.DB) error {
			list, ok := stmts[tx.Dialector.Name()]
			if !ok {
				return fmt.Errorf("no SQL for dialect %q", tx.Dialector.Name())
			}
			for _, s := range list {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		}})
	}
	return migrations, nil
}

// MustSQLMigrations is SQLMigrations for files embedded in the binary,
// where a malformed file is a programming error that any test run finds.
func MustSQLMigrations(fsys fs.FS, dir string) []Migration {
	m, err := SQLMigrations(fsys, dir)
	if err != nil {
		panic(err)
	}
	return m
}

type sqlFile struct {
	version    int
	name       string
	statements []string
}

// readSQLFiles reads the NNNN_*.sql files of one dialect directory, in
// version order.
func readSQLFiles(fsys fs.FS, dir string) ([]sqlFile, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var files []sqlFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("%s/%s: only NNNN_what.sql files belong here", dir, e.Name())
		}
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || len(prefix) != 4 || err != nil || version <= 0 {
			return nil, fmt.Errorf("%s/%s: name must start with a 4-digit version and '_'", dir, e.Name())
		}
		text, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		f, err := parseSQLFile(string(text))
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, e.Name(), err)
		}
		f.version = version
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b sqlFile) int { return a.version - b.version })
	for i := 1; i < len(files); i++ {
		if files[i].version == files[i-1].version {
			return nil, fmt.Errorf("%s: version %d appears twice", dir, files[i].version)
		}
	}
	return files, nil
}

// parseSQLFile splits a migration file into its name and statements. Lines
// starting with "--" are comments; a statement ends with a line ending in
// ';' (the files hold DDL and plain DML, never a ';' inside a literal at a
// line's end).
func parseSQLFile(text string) (sqlFile, error) {
	first, rest, _ := strings.Cut(text, "\n")
	name, ok := strings.CutPrefix(strings.TrimSpace(first), sqlNamePrefix)
	if !ok || strings.TrimSpace(name) == "" {
		return sqlFile{}, fmt.Errorf("first line must be %q followed by the migration's name", sqlNamePrefix)
	}
	f := sqlFile{name: strings.TrimSpace(name)}
	var cur []string
	for line := range strings.Lines(rest) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur = append(cur, strings.TrimRight(line, "\r\n"))
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(cur, "\n")), ";")
			f.statements = append(f.statements, stmt)
			cur = nil
		}
	}
	if len(cur) > 0 {
		return sqlFile{}, fmt.Errorf("last statement does not end with ';'")
	}
	if len(f.statements) == 0 {
		return sqlFile{}, fmt.Errorf("no statements")
	}
	return f, nil
}
