package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Change notifications tell the other processes on a PostgreSQL database
// (a service's replicas) at once that something they cache has changed,
// where polling alone would let them answer from their caches until their
// next poll. They travel with PostgreSQL's NOTIFY, so they are sent when
// the transaction that made the change commits, and never when it rolls
// back. They are a hint on top of polling, not a replacement: a listener
// that was disconnected has missed some and says so (see Listen), and
// nothing waits for a listener to have received one.
//
// SQLite databases belong to one process, which learns of its own changes
// directly: Notify and Listen do nothing there.

// listenRetry bounds the pause between a listener's reconnection attempts.
const listenRetry = 2 * time.Second

// Notify queues payload on the channel name of the database's namespace,
// delivered to every Listen of that name when tx commits. A no-op on
// SQLite.
func (d *DB) Notify(tx *gorm.DB, name, payload string) error {
	b, ok := d.backend.(*postgresBackend)
	if !ok {
		return nil
	}
	if err := tx.Exec("SELECT pg_notify(?, ?)", b.channel(name), payload).Error; err != nil {
		return fmt.Errorf("notify %s: %w", name, err)
	}
	return nil
}

// Listen calls fn with the payload of each notification sent with Notify
// on the channel name by any process on the database, until ctx ends. It
// listens on a connection of its own, outside the pools. Whenever it
// (re)connects, before any notification, it calls fn with "": the
// notifications sent while it was not listening are lost, so fn must treat
// everything as changed. Connection failures are logged and retried. On
// SQLite it returns at once and never calls fn.
func (d *DB) Listen(ctx context.Context, name string, fn func(payload string)) {
	b, ok := d.backend.(*postgresBackend)
	if !ok {
		return
	}
	for ctx.Err() == nil {
		err := b.listen(ctx, name, fn)
		if ctx.Err() != nil {
			return
		}
		b.logger.WarnContext(ctx, "change notifications interrupted; reconnecting", "channel", name, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(listenRetry):
		}
	}
}

// channel is the PostgreSQL channel of name in the namespace: services
// sharing a database do not hear each other.
func (b *postgresBackend) channel(name string) string { return b.ns + "/" + name }

// listen runs one listening connection until it fails or ctx ends.
func (b *postgresBackend) listen(ctx context.Context, name string, fn func(payload string)) error {
	conn, err := pgx.ConnectConfig(ctx, b.config)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(b.channel(name))); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fn("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return ctx.Err()
			}
			return fmt.Errorf("wait for a notification: %w", err)
		}
		fn(n.Payload)
	}
}
