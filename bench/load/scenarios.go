package load

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// authFunc adds credentials to a request.
type authFunc func(*http.Request) error

// Scenario is one measured endpoint with one way of authenticating.
type Scenario struct {
	Endpoint string // kms-encrypt, identity-token, ...
	Auth     string // basic (realm user), bearer (Identity token), client (OAuth client secret)
	// Do sends request i and verifies its answer.
	Do func(ctx context.Context, i int) error
	// Check, when set, verifies after the phase what could not be checked
	// from the answer alone (a sample of ciphertexts decrypts back), so
	// that the extra requests stay out of the measured numbers.
	Check func(ctx context.Context) error
}

// Name is how tables and -endpoints refer to the scenario.
func (s *Scenario) Name() string { return s.Endpoint + "/" + s.Auth }

// sampleSize is how many encrypt and sign answers of a phase are checked
// afterwards through decrypt and verify.
const sampleSize = 32

// sampler keeps up to sampleSize items spread over a phase.
type sampler[T any] struct {
	every int
	mu    sync.Mutex
	items []T
}

func newSampler[T any](n int) *sampler[T] {
	return &sampler[T]{every: max(1, n/sampleSize)}
}

func (s *sampler[T]) offer(i int, v T) {
	if i%s.every != 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) < sampleSize {
		s.items = append(s.items, v)
	}
}

func (s *sampler[T]) take() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.items
	s.items = nil
	return out
}

type sample struct {
	plain int    // index into session.plain
	value string // the ciphertext or signature
}

// scenarios returns every scenario this session can run, in table order;
// n is the expected number of requests per phase (for sampling).
func (s *session) scenarios(ctx context.Context, n int) []*Scenario {
	var out []*Scenario
	add := func(auth string, a authFunc) {
		out = append(out, s.kmsScenarios(ctx, auth, a, n)...)
	}
	add("basic", basic(s.writer.Username, s.writer.Password))
	if s.bearer {
		add("bearer", s.bearerAuth(ctx))
	}
	out = append(out,
		&Scenario{Endpoint: "identity-token", Auth: "client", Do: func(ctx context.Context, _ int) error {
			status, body, err := s.clientCredentials(ctx)
			if err != nil {
				return err
			}
			_, err = verifyToken(status, body)
			return err
		}},
		&Scenario{Endpoint: "identity-introspect", Auth: "client", Do: func(ctx context.Context, _ int) error {
			tok, err := s.tokens.get(ctx)
			if err != nil {
				return err
			}
			status, body, err := s.introspect(ctx, tok)
			if err != nil {
				return err
			}
			return verifyActive(status, body)
		}},
	)
	return out
}

// kmsScenarios are the four KMS operations with one kind of credential.
func (s *session) kmsScenarios(ctx context.Context, auth string, a authFunc, n int) []*Scenario {
	cts := newSampler[sample](n)
	sigs := newSampler[sample](n)
	writer := basic(s.writer.Username, s.writer.Password)
	return []*Scenario{
		{
			Endpoint: "kms-encrypt", Auth: auth,
			Do: func(ctx context.Context, i int) error {
				v := i % variants
				status, body, err := s.kmsOp(ctx, s.encKey, "encrypt", s.encBodies[v], a)
				if err != nil {
					return err
				}
				ct, err := verifyEncrypt(status, body)
				if err != nil {
					return err
				}
				cts.offer(i, sample{plain: v, value: ct})
				return nil
			},
			Check: func(ctx context.Context) error {
				for _, c := range cts.take() {
					status, body, err := s.kmsOp(ctx, s.encKey, "decrypt", mustJSON(map[string]string{"ciphertext": c.value}), writer)
					if err == nil {
						err = verifyDecrypt(status, body, s.plain[c.plain])
					}
					if err != nil {
						return fmt.Errorf("a ciphertext of the phase does not decrypt back: %w", err)
					}
				}
				return nil
			},
		},
		{
			Endpoint: "kms-decrypt", Auth: auth,
			Do: func(ctx context.Context, i int) error {
				v := i % variants
				status, body, err := s.kmsOp(ctx, s.encKey, "decrypt", s.decBodies[v], a)
				if err != nil {
					return err
				}
				return verifyDecrypt(status, body, s.plain[v])
			},
		},
		{
			Endpoint: "kms-sign", Auth: auth,
			Do: func(ctx context.Context, i int) error {
				v := i % variants
				status, body, err := s.kmsOp(ctx, s.sigKey, "sign", s.signBodies[v], a)
				if err != nil {
					return err
				}
				sig, err := verifySign(status, body, s.plain[v])
				if err != nil {
					return err
				}
				sigs.offer(i, sample{plain: v, value: sig})
				return nil
			},
			Check: func(ctx context.Context) error {
				for _, c := range sigs.take() {
					status, body, err := s.kmsOp(ctx, s.sigKey, "verify", mustJSON(map[string]string{"signature": c.value}), writer)
					if err == nil {
						err = verifyValid(status, body)
					}
					if err != nil {
						return fmt.Errorf("a signature of the phase does not verify: %w", err)
					}
				}
				return nil
			},
		},
		{
			Endpoint: "kms-verify", Auth: auth,
			Do: func(ctx context.Context, i int) error {
				status, body, err := s.kmsOp(ctx, s.sigKey, "verify", s.verifyBodies[i%variants], a)
				if err != nil {
					return err
				}
				return verifyValid(status, body)
			},
		},
	}
}

// Select returns the scenarios named in sel, in table order. An item is a
// full name (kms-encrypt/bearer) or an endpoint (kms-encrypt: every auth);
// "all" or an empty selection is everything. An item that matches nothing
// is an error that lists what exists.
func Select(all []*Scenario, sel []string) ([]*Scenario, error) {
	if len(sel) == 0 || slices.Contains(sel, "all") {
		return all, nil
	}
	picked := map[*Scenario]bool{}
	for _, item := range sel {
		item = strings.TrimSpace(item)
		hit := false
		for _, sc := range all {
			if sc.Name() == item || sc.Endpoint == item {
				picked[sc] = true
				hit = true
			}
		}
		if !hit {
			names := make([]string, len(all))
			for i, sc := range all {
				names[i] = sc.Name()
			}
			return nil, fmt.Errorf("-endpoints: %q matches none of %s", item, strings.Join(names, ", "))
		}
	}
	var out []*Scenario
	for _, sc := range all {
		if picked[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}
