package kms

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestError(t *testing.T) {
	cause := errors.New("db down")
	tests := []struct {
		desc     string
		err      error
		wantCode Code
		wantText string
	}{
		{desc: "new", err: New(NotFound, "key %s", "k1"), wantCode: NotFound, wantText: "not_found: key k1"},
		{desc: "wrapped cause", err: Wrap(cause, Internal, "boom"), wantCode: Internal, wantText: "internal: boom: db down"},
		{desc: "wrapped by fmt", err: fmt.Errorf("op: %w", New(KeyDestroyed, "gone")), wantCode: KeyDestroyed, wantText: "op: key_destroyed: gone"},
		{desc: "foreign error is internal", err: cause, wantCode: Internal, wantText: "db down"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.wantCode, CodeOf(tc.err))
			assert.Equal(t, tc.wantText, tc.err.Error())
			assert.Equal(t, tc.wantCode != Internal || tc.err != cause, Is(tc.err, tc.wantCode))
		})
	}
	assert.ErrorIs(t, Wrap(cause, Internal, "x"), cause)
}
