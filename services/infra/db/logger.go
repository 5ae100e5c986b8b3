package db

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// slowQuery is the duration above which a statement is logged as slow.
const slowQuery = 500 * time.Millisecond

func gormConfig(logger *slog.Logger, onQuery func()) *gorm.Config {
	return &gorm.Config{
		Logger: &slogGorm{logger: logger, onQuery: onQuery},
		// Timestamps gorm fills in are stored in UTC so both backends
		// return the same values.
		NowFunc: func() time.Time { return time.Now().UTC() },
	}
}

// slogGorm routes gorm's log output to slog at warn level and above. SQL is
// logged with placeholders only: parameters can be secrets, wrapped keys or
// personal data, and logs must never carry them.
type slogGorm struct {
	logger  *slog.Logger
	onQuery func() // Options.OnQuery; gorm traces every statement here
}

var (
	_ gormlogger.Interface = (*slogGorm)(nil)
	_ gorm.ParamsFilter    = (*slogGorm)(nil)
)

// LogMode is ignored: the level is the slog handler's business.
func (l *slogGorm) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

// Info is dropped: gorm's info messages are chatty and never actionable.
func (l *slogGorm) Info(context.Context, string, ...any) {}

func (l *slogGorm) Warn(ctx context.Context, msg string, _ ...any) {
	// gorm's format arguments can include values; log the message only.
	l.logger.WarnContext(ctx, "gorm: "+msg)
}

func (l *slogGorm) Error(ctx context.Context, msg string, _ ...any) {
	l.logger.ErrorContext(ctx, "gorm: "+msg)
}

// ParamsFilter drops the parameters before gorm renders SQL for Trace.
func (l *slogGorm) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l *slogGorm) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.onQuery != nil {
		l.onQuery()
	}
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		sql, rows := fc()
		l.logger.WarnContext(ctx, "sql statement failed", "error", safeError(err), "sql", sql, "rows", rows, "duration", elapsed)
	case elapsed > slowQuery:
		sql, rows := fc()
		l.logger.WarnContext(ctx, "slow sql statement", "sql", sql, "rows", rows, "duration", elapsed)
	}
}

// safeError describes a failed statement without the values it carried.
// PostgreSQL's data exceptions (SQLSTATE class 22) echo the offending input
// in their message ("invalid input syntax for type uuid: \"<value>\"",
// "value \"<n>\" is out of range"), so those are reduced to the SQLSTATE
// and the names involved. Other PostgreSQL messages name objects, not values
// (a unique violation's values are in Detail, which Error() leaves out), and
// SQLite's messages ("UNIQUE constraint failed: t.c") carry none either.
func safeError(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.HasPrefix(pgErr.Code, "22") {
		return err.Error()
	}
	msg := "postgres data exception (value withheld) SQLSTATE " + pgErr.Code
	for _, kv := range [][2]string{{"table", pgErr.TableName}, {"column", pgErr.ColumnName}, {"constraint", pgErr.ConstraintName}} {
		if kv[1] != "" {
			msg += " " + kv[0] + "=" + kv[1]
		}
	}
	return msg
}
