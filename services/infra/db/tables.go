package db

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// HasTable reports whether g's database (its schema on PostgreSQL) holds
// table name. Unlike gorm's Migrator().HasTable it returns the error of a
// failed lookup, rather than false, and does not panic when SQLite's
// statement cache cannot prepare the lookup.
func HasTable(ctx context.Context, g *gorm.DB, name string) (bool, error) {
	var query string
	switch g.Dialector.Name() {
	case "sqlite":
		query = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case "postgres":
		query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA() AND table_name = ?"
	default:
		return false, fmt.Errorf("look for table %s: unsupported dialect %q", name, g.Dialector.Name())
	}
	var n int64
	if err := g.WithContext(ctx).Raw(query, name).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}
