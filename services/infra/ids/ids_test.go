package ids

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewEntityIsTimeOrderedV7(t *testing.T) {
	a := NewEntity()
	time.Sleep(2 * time.Millisecond) // v7 orders by millisecond timestamp
	b := NewEntity()
	assert.Equal(t, uuid.Version(7), a.Version())
	assert.Less(t, a.String(), b.String(), "later UUIDv7 must sort after earlier one")
	assert.Len(t, a.String(), 36)
}

func TestNewTenantIsV4(t *testing.T) {
	id := NewTenant()
	assert.Equal(t, uuid.Version(4), id.Version())
	parsed, err := ParseTenant(id.String())
	require.NoError(t, err)
	assert.Equal(t, id, parsed)
	assert.NotEqual(t, id, NewTenant())
}

func TestParseTenant(t *testing.T) {
	good := "3f0c6b8e-1d2a-4b5c-8d9e-0a1b2c3d4e5f"
	cases := []struct {
		desc string
		in   string
		ok   bool
	}{
		{desc: "canonical v4", in: good, ok: true},
		{desc: "uppercase", in: strings.ToUpper(good)},
		{desc: "braces", in: "{" + good + "}"},
		{desc: "urn", in: "urn:uuid:" + good},
		{desc: "no hyphens", in: strings.ReplaceAll(good, "-", "")},
		{desc: "hyphen moved", in: "3f0c6b8e1-d2a-4b5c-8d9e-0a1b2c3d4e5f"},
		{desc: "version 7", in: "3f0c6b8e-1d2a-7b5c-8d9e-0a1b2c3d4e5f"},
		{desc: "version 1", in: "3f0c6b8e-1d2a-1b5c-8d9e-0a1b2c3d4e5f"},
		{desc: "wrong variant", in: "3f0c6b8e-1d2a-4b5c-cd9e-0a1b2c3d4e5f"},
		{desc: "non hex", in: "3f0c6b8e-1d2a-4b5c-8d9e-0a1b2c3d4e5g"},
		{desc: "empty", in: ""},
		{desc: "nil uuid", in: uuid.Nil.String()},
		{desc: "trailing space", in: good + " "},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			id, err := ParseTenant(tc.in)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, tc.in, id.String(), "printed in full, unchanged")
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid))
			assert.Equal(t, uuid.Nil, id)
		})
	}
}

func TestParseEntity(t *testing.T) {
	id := NewEntity()
	got, err := ParseEntity(id.String())
	require.NoError(t, err)
	assert.Equal(t, id, got)

	_, err = ParseEntity(NewTenant().String())
	require.ErrorIs(t, err, ErrInvalid, "a v4 id is not an entity id")
}
