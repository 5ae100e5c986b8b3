package introspect

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

// check is a check to run concurrently.
type check struct {
	raw       string
	claims    *authn.Claims
	sensitive bool
	ctx       context.Context
}

// whileInFlight runs first, holds Identity's answer to it, starts then
// every check of rest and waits until all of them are waiting for a call
// (the checker's hook says so: no sleeping), then lets Identity answer. It
// returns the errors of first and rest, in order.
func whileInFlight(t *testing.T, h *harness, first check, rest []check) []error {
	t.Helper()
	queued := make(chan struct{}, len(rest)+1)
	h.c.testHookQueued = func() { queued <- struct{}{} }
	h.id.hold()
	all := append([]check{first}, rest...)
	errs := make([]chan error, len(all))
	run := func(i int) {
		errs[i] = make(chan error, 1)
		ck := all[i]
		ctx := ck.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		go func() { errs[i] <- h.c.Check(ctx, ck.raw, ck.claims, ck.sensitive) }()
	}
	run(0)
	<-h.id.entered // first's call reached Identity and is held there
	<-queued
	for i := 1; i < len(all); i++ {
		run(i)
	}
	for range rest {
		<-queued
	}
	h.id.release()
	out := make([]error, len(all))
	for i := range all {
		out[i] = <-errs[i]
	}
	h.c.testHookQueued = nil
	return out
}

func tokens(h *harness, n int) []check {
	out := make([]check, n)
	for i := range out {
		raw := fmt.Sprintf("tok-%02d", i)
		out[i] = check{raw: raw, claims: h.token(raw)}
	}
	return out
}

func raws(cs []check) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.raw
	}
	return out
}

func TestConcurrentChecksOfOneTokenShareOneCall(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		desc string
		mode Mode
	}{
		{desc: "interval", mode: ModeInterval},
		{desc: "sensitive, ordinary checks", mode: ModeSensitive},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, tc.mode, nil)
			tok := check{raw: "tok", claims: h.token("tok")}
			errs := whileInFlight(t, h, tok, slices.Repeat([]check{tok}, n-1))
			for _, err := range errs {
				require.NoError(t, err)
			}
			calls := h.id.recorded()
			require.Len(t, calls, 1, "every check shared the call in flight")
			assert.Equal(t, []string{"tok"}, calls[0].tokens)
			require.NoError(t, h.check("tok", tok.claims, false))
			assert.Len(t, h.id.recorded(), 1, "and its answer is remembered")
		})
	}
}

func TestStrictChecksNeverShareACallSentBeforeThem(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		mode      Mode
		sensitive bool
	}{
		{desc: "every-request", mode: ModeEveryRequest},
		{desc: "sensitive check in sensitive mode", mode: ModeSensitive, sensitive: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, tc.mode, nil)
			x := check{raw: "x", claims: h.token("x"), sensitive: tc.sensitive}
			y := check{raw: "y", claims: h.token("y"), sensitive: tc.sensitive}
			rest := append(slices.Repeat([]check{y}, 10), x)
			for _, err := range whileInFlight(t, h, x, rest) {
				require.NoError(t, err)
			}
			calls := h.id.recorded()
			require.Len(t, calls, 2)
			assert.Equal(t, []string{"x"}, calls[0].tokens)
			// x again, asked after its first call was sent, waited for the
			// next; the ten checks of y shared one place in it.
			assert.Equal(t, batchPath, calls[1].path)
			assert.ElementsMatch(t, []string{"x", "y"}, calls[1].tokens)
		})
	}
}

func TestTokensArrivingDuringACallGoInOneBatch(t *testing.T) {
	const n = 30
	h := newHarness(t, ModeInterval, nil)
	first := check{raw: "first", claims: h.token("first")}
	rest := tokens(h, n)
	h.id.revoke(rest[7].raw)
	errs := whileInFlight(t, h, first, rest)
	for i, err := range errs {
		if i == 8 { // rest[7]
			require.ErrorIs(t, err, authn.ErrInvalidCredentials)
			continue
		}
		require.NoError(t, err, "check %d", i)
	}
	calls := h.id.recorded()
	require.Len(t, calls, 2)
	assert.Equal(t, introspectPath, calls[0].path, "a lone token goes to the RFC 7662 endpoint")
	assert.Equal(t, batchPath, calls[1].path)
	assert.ElementsMatch(t, raws(rest), calls[1].tokens, "all waiting tokens in one batch")
	assert.Equal(t, "rs-a", calls[1].clientID)
	assert.Equal(t, Stats{Calls: 2, BatchCalls: 1, TokensChecked: n + 1}, h.c.Stats())
}

func TestBatchesAreSplitAtMaxBatch(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		maxBatch int
		n        int
		sizes    []int
	}{
		{desc: "three chunks", maxBatch: 3, n: 7, sizes: []int{1, 3, 3}},
		{desc: "more chunks than calls run at once", maxBatch: 2, n: 19, sizes: append([]int{1}, slices.Repeat([]int{2}, 9)...)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, ModeInterval, func(o *Options) { o.MaxBatch = tc.maxBatch })
			first := check{raw: "first", claims: h.token("first")}
			rest := tokens(h, tc.n)
			for _, err := range whileInFlight(t, h, first, rest) {
				require.NoError(t, err)
			}
			var sizes []int
			var sent []string
			for _, c := range h.id.recorded()[1:] {
				assert.Equal(t, batchPath, c.path)
				sizes = append(sizes, len(c.tokens))
				sent = append(sent, c.tokens...)
			}
			slices.Sort(sizes)
			assert.Equal(t, tc.sizes, sizes)
			assert.ElementsMatch(t, raws(rest), sent)
		})
	}
}

func TestBatchesArePerClient(t *testing.T) {
	h := newHarness(t, ModeInterval, nil)
	first := check{raw: "first", claims: h.token("first")}
	a := tokens(h, 3)
	b := []check{
		{raw: "b1", claims: h.tokenOf("b1", tenantB)},
		{raw: "b2", claims: h.tokenOf("b2", tenantB)},
	}
	// A token claiming tenant A that Identity knows in tenant B: the
	// client of tenant A must not get an "active" for it.
	forged := check{raw: "forged", claims: h.tokenOf("forged", tenantB)}
	forged.claims.TenantID = tenantA
	rest := append(append(a, b...), forged)
	errs := whileInFlight(t, h, first, rest)
	for _, err := range errs[:len(errs)-1] {
		require.NoError(t, err)
	}
	require.ErrorIs(t, errs[len(errs)-1], authn.ErrInvalidCredentials)
	byClient := map[string][]call{}
	for _, c := range h.id.recorded() {
		byClient[c.clientID] = append(byClient[c.clientID], c)
	}
	// rs-a had a call in flight: its tokens waited and went in one batch.
	require.Len(t, byClient["rs-a"], 2)
	assert.ElementsMatch(t, append(raws(a), "forged"), byClient["rs-a"][1].tokens)
	// rs-b had none: its first token was sent at once, the other either
	// caught that call before it left or waited for the next.
	var toB []string
	for _, c := range byClient["rs-b"] {
		toB = append(toB, c.tokens...)
	}
	assert.ElementsMatch(t, raws(b), toB)
}

func TestBatchNotFoundFallsBackToOneCallPerToken(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusMethodNotAllowed} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t, ModeInterval, nil)
			h.id.set(func(f *fakeIdentity) { f.batchStatus = status })
			first := check{raw: "first", claims: h.token("first")}
			rest := tokens(h, 6)
			h.id.revoke(rest[2].raw)
			errs := whileInFlight(t, h, first, rest[:4])
			require.ErrorIs(t, errs[3], authn.ErrInvalidCredentials)
			for _, i := range []int{0, 1, 2, 4} {
				require.NoError(t, errs[i])
			}
			calls := h.id.recorded()
			require.Len(t, calls, 1+1+4, "first, the refused batch, then one call per token")
			assert.Equal(t, batchPath, calls[1].path)
			var singles []string
			for _, c := range calls[2:] {
				assert.Equal(t, introspectPath, c.path)
				singles = append(singles, c.tokens...)
			}
			assert.ElementsMatch(t, raws(rest[:4]), singles)

			// From now on the batch endpoint is not tried again.
			second := check{raw: "second", claims: h.token("second")}
			for _, err := range whileInFlight(t, h, second, rest[4:]) {
				require.NoError(t, err)
			}
			batches := 0
			for _, c := range h.id.recorded() {
				if c.path == batchPath {
					batches++
				}
			}
			assert.Equal(t, 1, batches)
			assert.Equal(t, 1, strings.Count(h.logs.String(), "one token per call"), "logged once")
		})
	}
}

func TestWithoutBatchEndpointEachTokenHasItsCall(t *testing.T) {
	h := newHarness(t, ModeInterval, func(o *Options) { o.BatchEndpoint = "" })
	first := check{raw: "first", claims: h.token("first")}
	rest := tokens(h, 12) // more than parallelism
	for _, err := range whileInFlight(t, h, first, rest) {
		require.NoError(t, err)
	}
	calls := h.id.recorded()
	require.Len(t, calls, 13)
	var sent []string
	for _, c := range calls[1:] {
		assert.Equal(t, introspectPath, c.path)
		sent = append(sent, c.tokens...)
	}
	assert.ElementsMatch(t, raws(rest), sent)
	assert.Zero(t, h.c.Stats().BatchCalls)
}

func TestAWaiterGivingUpDoesNotCancelTheSharedCall(t *testing.T) {
	h := newHarness(t, ModeInterval, nil)
	claims := h.token("tok")
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan struct{}, 2)
	h.c.testHookQueued = func() { queued <- struct{}{} }
	h.id.hold()
	gaveUp, stayed := make(chan error, 1), make(chan error, 1)
	go func() { gaveUp <- h.c.Check(ctx, "tok", claims, false) }()
	<-h.id.entered
	<-queued
	go func() { stayed <- h.c.Check(context.Background(), "tok", claims, false) }()
	<-queued
	cancel()
	err := <-gaveUp
	require.ErrorIs(t, err, authn.ErrUnavailable)
	require.ErrorIs(t, err, context.Canceled)
	h.id.release()
	require.NoError(t, <-stayed, "the call went on for the check still waiting")
	require.NoError(t, h.check("tok", claims, false))
	assert.Len(t, h.id.recorded(), 1, "its answer was remembered")
}
