package db

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

func TestSchemaName(t *testing.T) {
	tests := []struct {
		desc       string
		tenant     uuid.UUID
		wantName   string
		wantQuoted string
	}{
		{
			desc:       "v4 tenant id",
			tenant:     uuid.MustParse("3f0c6b8e-1d2a-4b3c-8d4e-5f6a7b8c9d0e"),
			wantName:   "kms_t_3f0c6b8e1d2a4b3c8d4e5f6a7b8c9d0e",
			wantQuoted: `"kms_t_3f0c6b8e1d2a4b3c8d4e5f6a7b8c9d0e"`,
		},
		{
			desc:       "all-ones id keeps 32 lowercase hex digits",
			tenant:     uuid.Max,
			wantName:   "kms_t_ffffffffffffffffffffffffffffffff",
			wantQuoted: `"kms_t_ffffffffffffffffffffffffffffffff"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			name := schemaName("kms", tc.tenant)
			assert.Equal(t, tc.wantName, name)
			assert.Equal(t, tc.wantQuoted, quoteIdent(name))
		})
	}
}

func TestQuoteIdentEscapes(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		want string
	}{
		{desc: "embedded quote is doubled", in: `a"b`, want: `"a""b"`},
		{desc: "statement separator stays inside the identifier", in: `x; DROP TABLE y`, want: `"x; DROP TABLE y"`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, quoteIdent(tc.in))
		})
	}
}

func TestSlogGormTrace(t *testing.T) {
	const secret = "s3cret-param"
	fc := func() (string, int64) { return "SELECT * FROM keys WHERE name = $1", 1 }
	tests := []struct {
		desc    string
		elapsed time.Duration
		err     error
		want    string // "" means nothing is logged
	}{
		{desc: "fast success is silent", elapsed: time.Millisecond},
		{desc: "not found is silent: it is an answer, not a failure", elapsed: time.Millisecond, err: gorm.ErrRecordNotFound},
		{desc: "failure is a warning", elapsed: time.Millisecond, err: errors.New("boom"), want: "sql statement failed"},
		{desc: "slow statement is a warning", elapsed: time.Second, want: "slow sql statement"},
		{
			desc: "postgres error echoing a parameter is reduced to its SQLSTATE and names", elapsed: time.Millisecond,
			err:  fmt.Errorf("query: %w", &pgconn.PgError{Code: "22P02", Message: `invalid input syntax for type uuid: "` + secret + `"`, TableName: "keys", ColumnName: "id"}),
			want: "postgres data exception (value withheld) SQLSTATE 22P02 table=keys column=id",
		},
		{
			desc: "other postgres errors keep their message, which names objects only", elapsed: time.Millisecond,
			err:  &pgconn.PgError{Code: "42P01", Message: `relation "keyz" does not exist`},
			want: `relation \"keyz\" does not exist`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			l := &slogGorm{logger: slog.New(slog.NewTextHandler(&buf, nil))}
			l.Trace(context.Background(), time.Now().Add(-tc.elapsed), fc, tc.err)
			if tc.want == "" {
				assert.Empty(t, buf.String())
				return
			}
			assert.Contains(t, buf.String(), tc.want)
			assert.Contains(t, buf.String(), "WHERE name = $1", "SQL is logged with placeholders")
			assert.Contains(t, buf.String(), "level=WARN")
			assert.NotContains(t, buf.String(), secret, "no parameter value reaches the logs")
		})
	}

	sql, params := (&slogGorm{}).ParamsFilter(context.Background(), "SELECT $1", secret)
	require.Equal(t, "SELECT $1", sql)
	assert.Empty(t, params, "parameters never reach the rendered SQL")
}
