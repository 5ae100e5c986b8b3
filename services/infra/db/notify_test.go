package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestNotifyReachesListenersAtCommit: on PostgreSQL a listener on another
// handle of the database (another replica) hears "" once it listens, then
// the payloads of committed transactions only, and a listener of another
// namespace hears none. On SQLite Listen returns at once and Notify does
// nothing.
func TestNotifyReachesListenersAtCommit(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		opts := dbtest.Options(t, b)
		open := func(ns string) *db.DB {
			o := opts
			o.Namespace = ns
			d, err := db.Open(t.Context(), o)
			require.NoError(t, err)
			t.Cleanup(func() { d.Close() })
			return d
		}
		sender, receiver := open("svc"), open("svc")
		if b == dbtest.SQLite {
			receiver.Listen(t.Context(), "changes", func(string) { t.Error("a SQLite listener was called") })
			require.NoError(t, sender.Notify(sender.Gorm(), "changes", "x"))
			return
		}
		stranger := open("other")

		got := make(chan string, 16)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		t.Cleanup(func() { cancel(); wg.Wait() })
		for _, d := range []*db.DB{receiver, stranger} {
			wg.Go(func() {
				d.Listen(ctx, "changes", func(p string) {
					if d == stranger && p != "" {
						t.Errorf("another namespace heard %q", p)
					}
					if d == receiver {
						got <- p
					}
				})
			})
		}
		next := func() string {
			t.Helper()
			select {
			case p := <-got:
				return p
			case <-time.After(10 * time.Second):
				t.Fatal("no notification within 10 s")
				return ""
			}
		}
		require.Equal(t, "", next(), "listening starts with a resync")

		rolledBack := sender.Gorm().Transaction(func(tx *gorm.DB) error {
			require.NoError(t, sender.Notify(tx, "changes", "rolled-back"))
			return context.Canceled
		})
		require.ErrorIs(t, rolledBack, context.Canceled)
		require.NoError(t, sender.Gorm().Transaction(func(tx *gorm.DB) error {
			return sender.Notify(tx, "changes", "committed")
		}))
		require.Equal(t, "committed", next(), "only the committed transaction's notification arrives")
	})
}
