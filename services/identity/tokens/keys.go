// Package tokens owns the Identity service's signing keys (persisted, wrapped
// by the barrier, rotated with overlap) and makes and checks its JWTs with
// github.com/golang-jwt/jwt/v5.
package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
)

// Signing algorithms (JOSE names).
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// SupportedAlgorithms lists the algorithms keys can be made for.
var SupportedAlgorithms = []string{ES256, RS256, EdDSA}

// ErrUnknownKey is returned for a kid that is not (or no longer) published.
var ErrUnknownKey = errors.New("unknown signing key")

// KeyStore persists the service's signing keys, shared by every replica.
type KeyStore interface {
	// SigningKeys lists every stored key, in the order they start signing
	// (then by kid), so every replica sees the same succession.
	SigningKeys(ctx context.Context) ([]identity.SigningKey, error)
	// SaveSigningKey stores k as the newest key, unless the newest stored
	// key is no longer after (its kid; "" for none), and reports whether
	// it stored k. The check and the store are atomic across replicas:
	// replicas that decide from the same loaded set to add a key add one
	// between them, and the others reload it. A kid stored before is an
	// error and changes nothing.
	SaveSigningKey(ctx context.Context, k *identity.SigningKey, after string) (bool, error)
	// DeleteSigningKey removes a key; deleting one that is gone is not an
	// error, so replicas retiring the same key all succeed.
	DeleteSigningKey(ctx context.Context, kid string) error
}

// Wrapper seals private keys at rest (implemented by *barrier.Barrier).
type Wrapper interface {
	Wrap(ctx context.Context, tenant uuid.UUID, purpose string, plaintext []byte) ([]byte, error)
	Unwrap(ctx context.Context, tenant uuid.UUID, purpose string, wrapped []byte) ([]byte, error)
}

var _ KeyStore = (*store.Store)(nil)

// KeyOptions configure rotation.
type KeyOptions struct {
	Algorithm string // ES256 (default), RS256 or EdDSA
	// RotationPeriod is how long a key signs before its successor takes over.
	RotationPeriod time.Duration
	// PrePublish is how long a successor is published in the JWKS before it
	// signs, so relying parties that cache the JWKS know it in time.
	PrePublish time.Duration
	// MaxTokenTTL is the longest lifetime of a token signed by a key: a
	// retired key stays published this long after it stopped signing.
	MaxTokenTTL time.Duration
	Now         func() time.Time
}

// Key is one signing key as the service uses it.
type Key struct {
	KID         string
	Algorithm   string
	Public      crypto.PublicKey
	Private     crypto.Signer
	PublishedAt time.Time
	SignsFrom   time.Time
	SignsUntil  time.Time // zero while no successor exists

	// accessHeader and idHeader are the encoded protected headers of the
	// access and ID tokens the key signs, made once when it is loaded.
	accessHeader, idHeader string
}

// header is the encoded protected header of a token of type typ signed by k.
func (k *Key) header(typ string) string {
	switch {
	case typ == typAccess && k.accessHeader != "":
		return k.accessHeader
	case typ == typID && k.idHeader != "":
		return k.idHeader
	}
	return encodeHeader(k.Algorithm, k.KID, typ)
}

// visibleAt reports whether the key is in the JWKS (and verifies tokens) at now.
func (k *Key) visibleAt(now time.Time, maxTTL time.Duration) bool {
	if now.Before(k.PublishedAt) {
		return false
	}
	return k.SignsUntil.IsZero() || now.Before(k.SignsUntil.Add(maxTTL))
}

// Keys is the rotating set of signing keys. Safe for concurrent use; the
// stored set is re-examined only when the clock passes the next scheduled
// event (a successor to publish, a key to start signing or to retire), so
// signing normally costs no database access.
type Keys struct {
	store KeyStore
	wrap  Wrapper
	opts  KeyOptions

	mu        sync.Mutex
	keys      []*Key // ordered by SignsFrom
	nextCheck time.Time
}

const keyPurpose = "identity/signing-key/"

// NewKeys loads the stored keys and makes sure one can sign now.
func NewKeys(ctx context.Context, ks KeyStore, w Wrapper, opts KeyOptions) (*Keys, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = ES256
	}
	if !slices.Contains(SupportedAlgorithms, opts.Algorithm) {
		return nil, fmt.Errorf("signing algorithm %q: want one of %v", opts.Algorithm, SupportedAlgorithms)
	}
	if opts.RotationPeriod <= 0 || opts.PrePublish < 0 || opts.PrePublish >= opts.RotationPeriod || opts.MaxTokenTTL <= 0 {
		return nil, fmt.Errorf("key rotation: need rotation period > pre-publication >= 0 and max token lifetime > 0")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k := &Keys{store: ks, wrap: w, opts: opts}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.maintain(ctx, opts.Now()); err != nil {
		return nil, err
	}
	return k, nil
}

// refresh runs maintenance when a scheduled event is due.
func (k *Keys) refresh(ctx context.Context) (time.Time, error) {
	now := k.opts.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if !now.Before(k.nextCheck) {
		if err := k.maintain(ctx, now); err != nil {
			return now, err
		}
	}
	return now, nil
}

// maintain loads the stored keys, creates a current or successor key when
// needed, prunes keys that verify nothing any more and schedules the next
// check. Caller holds k.mu.
func (k *Keys) maintain(ctx context.Context, now time.Time) error {
	// Another replica may add the same key at the same moment: only one
	// is stored (SaveSigningKey), and the loser decides again on the set
	// with the winner's key, where there is nothing left to add. The bound
	// only guards against a store that keeps refusing.
	for attempt := 0; ; attempt++ {
		if err := k.load(ctx); err != nil {
			return err
		}
		publish, signsFrom, ok := k.due(now)
		if !ok {
			break
		}
		if attempt == 3 {
			return errors.New("signing keys: the stored set kept changing while a key was added")
		}
		saved, err := k.create(ctx, publish, signsFrom)
		if err != nil {
			return err
		}
		if saved {
			// Reload to take the new key in (and anything stored meanwhile).
			if err := k.load(ctx); err != nil {
				return err
			}
			break
		}
	}
	pruned := false
	for _, key := range k.keys {
		if !key.SignsUntil.IsZero() && !now.Before(key.SignsUntil.Add(k.opts.MaxTokenTTL)) {
			if err := k.store.DeleteSigningKey(ctx, key.KID); err != nil {
				return err
			}
			pruned = true
		}
	}
	if pruned {
		if err := k.load(ctx); err != nil {
			return err
		}
	}
	k.nextCheck = k.nextEvent(now)
	return nil
}

// due reports whether a key must be added at now, and when it is published
// and starts signing: a current key when none signs, else a successor once
// the current key is within the pre-publication period of its end (or the
// configured algorithm changed). Caller holds k.mu.
func (k *Keys) due(now time.Time) (publish, signsFrom time.Time, ok bool) {
	cur := k.currentAt(now)
	switch {
	case cur == nil:
		// Nothing can sign: the first key signs at once (nobody can have
		// cached a JWKS of a service that never issued a token).
		return now, now, true
	case k.successorOf(cur) == nil && (!now.Before(cur.SignsFrom.Add(k.opts.RotationPeriod-k.opts.PrePublish)) || cur.Algorithm != k.opts.Algorithm):
		from := cur.SignsFrom.Add(k.opts.RotationPeriod)
		if earliest := now.Add(k.opts.PrePublish); from.Before(earliest) || cur.Algorithm != k.opts.Algorithm {
			// Overdue, or the configured algorithm changed: switch as soon
			// as the pre-publication period allows.
			from = earliest
		}
		return now, from, true
	}
	return time.Time{}, time.Time{}, false
}

func (k *Keys) nextEvent(now time.Time) time.Time {
	next := now.Add(k.opts.RotationPeriod)
	consider := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	for _, key := range k.keys {
		consider(key.PublishedAt)
		consider(key.SignsFrom)
		consider(key.SignsFrom.Add(k.opts.RotationPeriod - k.opts.PrePublish))
		if !key.SignsUntil.IsZero() {
			consider(key.SignsUntil.Add(k.opts.MaxTokenTTL))
		}
	}
	return next
}

func (k *Keys) currentAt(now time.Time) *Key {
	var cur *Key
	for _, key := range k.keys {
		if !key.SignsFrom.After(now) {
			cur = key
		}
	}
	return cur
}

func (k *Keys) successorOf(cur *Key) *Key {
	for _, key := range k.keys {
		if key.SignsFrom.After(cur.SignsFrom) {
			return key
		}
	}
	return nil
}

// load reads every stored key, unwrapping private keys it has not seen yet.
func (k *Keys) load(ctx context.Context) error {
	rows, err := k.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	known := map[string]*Key{}
	for _, key := range k.keys {
		known[key.KID] = key
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].SignsFrom.Before(rows[j].SignsFrom) })
	keys := make([]*Key, 0, len(rows))
	for _, r := range rows {
		key := known[r.KID]
		if key == nil {
			key, err = k.unwrapKey(ctx, r)
			if err != nil {
				return err
			}
		}
		key.SignsUntil = time.Time{}
		keys = append(keys, key)
	}
	for i := 0; i+1 < len(keys); i++ {
		keys[i].SignsUntil = keys[i+1].SignsFrom
	}
	k.keys = keys
	return nil
}

func (k *Keys) unwrapKey(ctx context.Context, r identity.SigningKey) (*Key, error) {
	der, err := k.wrap.Unwrap(ctx, uuid.Nil, keyPurpose+r.KID, r.WrappedPrivate)
	if err != nil {
		return nil, fmt.Errorf("unwrap signing key %s: %w", r.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", r.KID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not a signer", r.KID)
	}
	return &Key{
		KID: r.KID, Algorithm: r.Algorithm, Public: signer.Public(), Private: signer,
		PublishedAt: r.PublishedAt.UTC(), SignsFrom: r.SignsFrom.UTC(),
		accessHeader: encodeHeader(r.Algorithm, r.KID, typAccess), idHeader: encodeHeader(r.Algorithm, r.KID, typID),
	}, nil
}

// create makes a key and stores it as the successor of the newest loaded
// key; false when another replica stored a key since k.keys was loaded.
func (k *Keys) create(ctx context.Context, publish, signsFrom time.Time) (bool, error) {
	signer, err := generate(k.opts.Algorithm)
	if err != nil {
		return false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return false, fmt.Errorf("encode signing key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return false, fmt.Errorf("encode public key: %w", err)
	}
	kid := randomKID()
	wrapped, err := k.wrap.Wrap(ctx, uuid.Nil, keyPurpose+kid, der)
	if err != nil {
		return false, fmt.Errorf("wrap signing key: %w", err)
	}
	after := ""
	if len(k.keys) > 0 {
		after = k.keys[len(k.keys)-1].KID
	}
	return k.store.SaveSigningKey(ctx, &identity.SigningKey{
		KID: kid, Algorithm: k.opts.Algorithm, PublicDER: pub, WrappedPrivate: wrapped,
		PublishedAt: publish.UTC(), SignsFrom: signsFrom.UTC(),
	}, after)
}

func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, 3072)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("signing algorithm %q not supported", alg)
}

func randomKID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Signer returns the key that signs new tokens now.
func (k *Keys) Signer(ctx context.Context) (*Key, error) {
	now, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.currentAt(now)
	if cur == nil {
		return nil, errors.New("no signing key is current")
	}
	return cur, nil
}

// Verifier returns the published key with the given kid.
func (k *Keys) Verifier(ctx context.Context, kid string) (*Key, error) {
	now, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, key := range k.keys {
		if key.KID == kid && key.visibleAt(now, k.opts.MaxTokenTTL) {
			return key, nil
		}
	}
	return nil, ErrUnknownKey
}

// JWKS returns the published public keys, oldest first, as the JWK Set
// (RFC 7517) the jwks endpoint serves; go-jose encodes each key.
func (k *Keys) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	now, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, key := range k.keys {
		if key.visibleAt(now, k.opts.MaxTokenTTL) {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: key.Public, KeyID: key.KID, Algorithm: key.Algorithm, Use: "sig"})
		}
	}
	return set, nil
}

// Algorithm is the algorithm new keys are made for.
func (k *Keys) Algorithm() string { return k.opts.Algorithm }
