package introspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

// step is one check in a scenario: the clock moves by advance, act changes
// Identity, then the token is checked.
type step struct {
	desc      string
	advance   time.Duration
	act       func(h *harness)
	sensitive bool
	want      error // nil, authn.ErrInvalidCredentials or authn.ErrUnavailable
	calls     int   // requests Identity received so far
}

func down(h *harness) { h.id.set(func(f *fakeIdentity) { f.status = http.StatusServiceUnavailable }) }
func up(h *harness)   { h.id.set(func(f *fakeIdentity) { f.status = 0 }) }
func revoke(h *harness) {
	h.id.revoke("tok")
}
func downAndRevoke(h *harness) { revoke(h); down(h) }

func TestModes(t *testing.T) {
	const interval = time.Minute // harness default
	for _, sc := range []struct {
		desc  string
		mode  Mode
		steps []step
	}{
		{desc: "none never asks, revoked or not", mode: ModeNone, steps: []step{
			{desc: "first check", calls: 0},
			{desc: "revoked and Identity down", act: downAndRevoke, calls: 0},
			{desc: "sensitive", sensitive: true, calls: 0},
		}},
		{desc: "interval re-checks once the interval passed", mode: ModeInterval, steps: []step{
			{desc: "first check asks", calls: 1},
			{desc: "second is remembered", calls: 1},
			{desc: "just within the interval", advance: interval - time.Second, calls: 1},
			{desc: "sensitive changes nothing in interval mode", sensitive: true, calls: 1},
			{desc: "interval reached: asks again", advance: time.Second, calls: 2},
			{desc: "revoked within the bound: still active", act: revoke, advance: interval - time.Second, calls: 2},
			{desc: "bound reached: revoked", advance: time.Second, want: authn.ErrInvalidCredentials, calls: 3},
			{desc: "revoked is remembered", advance: interval, want: authn.ErrInvalidCredentials, calls: 3},
		}},
		{desc: "interval serves up to the bound when Identity is down, then fails closed", mode: ModeInterval, steps: []step{
			{desc: "first check asks", calls: 1},
			{desc: "down within the bound", act: down, advance: interval / 2, calls: 1},
			{desc: "down at the bound", advance: interval / 2, want: authn.ErrUnavailable, calls: 2},
			{desc: "a failure is not remembered", want: authn.ErrUnavailable, calls: 3},
			{desc: "back up", act: up, calls: 4},
			{desc: "remembered again", calls: 4},
		}},
		{desc: "sensitive always asks for sensitive checks, others as interval", mode: ModeSensitive, steps: []step{
			{desc: "ordinary check asks", calls: 1},
			{desc: "ordinary check is remembered", calls: 1},
			{desc: "sensitive asks", sensitive: true, calls: 2},
			{desc: "sensitive asks again", sensitive: true, calls: 3},
			{desc: "sensitive with Identity down", act: down, sensitive: true, want: authn.ErrUnavailable, calls: 4},
			{desc: "ordinary within the bound", advance: interval - time.Second, calls: 4},
			{desc: "ordinary at the bound with Identity down", advance: time.Second, want: authn.ErrUnavailable, calls: 5},
			{desc: "sensitive after revocation", act: func(h *harness) { up(h); revoke(h) }, sensitive: true, want: authn.ErrInvalidCredentials, calls: 6},
			{desc: "ordinary: revoked is remembered", want: authn.ErrInvalidCredentials, calls: 6},
			{desc: "sensitive: revoked is remembered", sensitive: true, want: authn.ErrInvalidCredentials, calls: 6},
		}},
		{desc: "every-request always asks and fails closed", mode: ModeEveryRequest, steps: []step{
			{desc: "first check asks", calls: 1},
			{desc: "second asks", calls: 2},
			{desc: "Identity down", act: down, want: authn.ErrUnavailable, calls: 3},
			{desc: "revoked", act: func(h *harness) { up(h); revoke(h) }, want: authn.ErrInvalidCredentials, calls: 4},
			{desc: "revoked is remembered until exp", advance: 59 * time.Minute, want: authn.ErrInvalidCredentials, calls: 4},
			{desc: "past exp it is asked about again", advance: time.Minute, want: authn.ErrInvalidCredentials, calls: 5},
		}},
	} {
		t.Run(sc.desc, func(t *testing.T) {
			h := newHarness(t, sc.mode, nil)
			claims := h.token("tok")
			for i, st := range sc.steps {
				h.clock.Advance(st.advance)
				if st.act != nil {
					st.act(h)
				}
				err := h.check("tok", claims, st.sensitive)
				name := fmt.Sprintf("step %d (%s)", i+1, st.desc)
				if st.want == nil {
					require.NoError(t, err, name)
				} else {
					require.ErrorIs(t, err, st.want, name)
					// Never both: a 401 and a 503 are different answers.
					other := authn.ErrUnavailable
					if st.want == authn.ErrUnavailable {
						other = authn.ErrInvalidCredentials
					}
					require.False(t, errors.Is(err, other), "%s: %v", name, err)
				}
				require.Len(t, h.id.recorded(), st.calls, name)
			}
			assert.Equal(t, uint64(len(h.id.recorded())), h.c.Stats().Calls, "Stats.Calls counts what Identity received")
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		desc, in string
		want     Mode
		wantErr  bool
	}{
		{desc: "none", in: "none", want: ModeNone},
		{desc: "interval", in: "interval", want: ModeInterval},
		{desc: "sensitive", in: "sensitive", want: ModeSensitive},
		{desc: "every-request", in: "every-request", want: ModeEveryRequest},
		{desc: "empty", in: "", wantErr: true},
		{desc: "case matters", in: "Interval", wantErr: true},
		{desc: "unknown", in: "always", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "every-request", "the error lists the valid modes")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCheckHashedSharesCheckMemory(t *testing.T) {
	h := newHarness(t, ModeInterval, nil)
	claims := h.token("tok")
	require.NoError(t, h.check("tok", claims, false))
	require.NoError(t, h.c.CheckHashed(context.Background(), "tok", sha256.Sum256([]byte("tok")), claims, false))
	assert.Len(t, h.id.recorded(), 1, "the same key: the answer of Check serves CheckHashed")
	assert.Equal(t, uint64(1), h.c.Stats().CacheHits)

	h.id.revoke("tok")
	h.clock.Advance(time.Minute)
	require.ErrorIs(t, h.c.CheckHashed(context.Background(), "tok", sha256.Sum256([]byte("tok")), claims, false), authn.ErrInvalidCredentials)
	require.ErrorIs(t, h.check("tok", claims, false), authn.ErrInvalidCredentials)
	assert.Len(t, h.id.recorded(), 2)
}
