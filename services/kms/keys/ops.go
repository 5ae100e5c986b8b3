package keys

import (
	"context"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// usable checks that key k may serve an operation needing purpose.
// Order: destroyed (410) before wrong purpose (400) before disabled (409).
func usable(k *kms.ElasticKey, purpose kms.Purpose, op string) error {
	switch {
	case k.Status == kms.StatusDestroyed:
		return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", k.ID)
	case k.Purpose != purpose:
		return kms.New(kms.WrongPurpose, "%s needs a %s key; key %s is a %s key (%s)", op, purpose, k.ID, k.Purpose, k.Algorithm)
	case k.Status == kms.StatusDisabled:
		return kms.New(kms.KeyDisabled, "elastic key %s is disabled", k.ID)
	}
	return nil
}

// load unwraps and loads a version's material.
func (s *Service) load(ctx context.Context, tenant uuid.UUID, k *kms.ElasticKey, m *kms.MaterialKey) (*keycrypto.Key, error) {
	private, err := s.barrier.Unwrap(ctx, tenant, materialPurpose(k.ID, m.ID), m.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap material %s: %w", m.ID, err)
	}
	defer clear(private)
	key, err := keycrypto.Load(k.Algorithm, m.Kid(), private)
	if err != nil {
		return nil, fmt.Errorf("load material %s: %w", m.ID, err)
	}
	return key, nil
}

// lookup resolves a kid to a version of e's key for decrypt and verify:
// unknown kids (including other keys' versions) are unknown to keycrypto;
// disabled and destroyed versions are refused with their own codes.
func (s *Service) lookup(ctx context.Context, e *cachedKey, used *string) keycrypto.Lookup {
	return func(kid string) (*keycrypto.Key, error) {
		mid, err := ids.ParseEntity(kid)
		if err != nil {
			return nil, nil // not a material key id, so no version of this key
		}
		v, err := s.keys.version(ctx, e, mid)
		if err != nil || v == nil {
			return nil, err
		}
		*used = v.m.Kid()
		switch v.m.Status {
		case kms.StatusDestroyed:
			return nil, kms.New(kms.VersionDestroyed, "material key %s was destroyed", kid)
		case kms.StatusDisabled:
			return nil, kms.New(kms.VersionDisabled, "material key %s is disabled", kid)
		}
		return v.key, nil
	}
}

// cryptoError maps a keycrypto error to the service's error type. Errors
// that already are *kms.Error (from lookup) pass through.
func cryptoError(err error, malformed kms.Code) error {
	var ke *kms.Error
	if errors.As(err, &ke) {
		return ke
	}
	var ce *keycrypto.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Code {
	case keycrypto.CodeMalformed:
		return kms.Wrap(err, malformed, "%s", ce.Detail)
	case keycrypto.CodeUnknownKid:
		return kms.Wrap(err, kms.UnknownKid, "the kid names no version of this key")
	case keycrypto.CodeWrongContext:
		return kms.Wrap(err, kms.ContextMismatch, "the context does not match the one the ciphertext is bound to")
	case keycrypto.CodeDecrypt:
		return kms.Wrap(err, kms.DecryptionFailed, "the ciphertext failed authentication")
	case keycrypto.CodeWrongPurpose:
		return kms.Wrap(err, kms.WrongPurpose, "%s", ce.Detail)
	case keycrypto.CodeUnsupportedAlgorithm:
		return kms.Wrap(err, kms.AlgorithmMismatch, "the header algorithm is not the key's algorithm")
	}
	return err
}

// withKey runs fn on a usable key of tenant, from the cache, audited as op.
func (s *Service) withKey(ctx context.Context, tenant, id uuid.UUID, op string, purpose kms.Purpose, fn func(e *cachedKey) (string, error)) error {
	return s.audited(ctx, tenant, op, id.String(), func() (string, error) {
		e, err := s.keys.get(ctx, tenant, id)
		if err != nil {
			return "", err
		}
		if err := usable(e.key, purpose, op); err != nil {
			return "", err
		}
		return fn(e)
	})
}

// withPrimary runs fn on a usable key of tenant and its primary version,
// loaded, audited as op. Key and version come from the cache, or else from
// one read.
func (s *Service) withPrimary(ctx context.Context, tenant, id uuid.UUID, op string, purpose kms.Purpose, fn func(key *keycrypto.Key) error) (kid string, err error) {
	err = s.audited(ctx, tenant, op, id.String(), func() (string, error) {
		e, err := s.keys.get(ctx, tenant, id)
		if err != nil {
			return "", err
		}
		if err := usable(e.key, purpose, op); err != nil {
			return "", err
		}
		p := e.primary
		if p == nil {
			return "", kms.New(kms.NoEnabledVersion, "elastic key %s has no enabled version", id)
		}
		kid = p.m.Kid()
		if err := fn(p.key); err != nil {
			return kid, cryptoError(err, kms.Internal)
		}
		return kid, nil
	})
	if err != nil {
		return "", err
	}
	return kid, nil
}

// Encrypt encrypts plaintext with the primary version as a compact JWE,
// binding encContext (may be nil) into its protected header.
func (s *Service) Encrypt(ctx context.Context, tenant, id uuid.UUID, plaintext, encContext []byte) (jwe, kid string, err error) {
	kid, err = s.withPrimary(ctx, tenant, id, "encrypt", keycrypto.PurposeEncrypt, func(key *keycrypto.Key) (err error) {
		jwe, err = keycrypto.Encrypt(key, plaintext, encContext)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return jwe, kid, nil
}

// Decrypt opens a JWE made by any enabled version of the key.
func (s *Service) Decrypt(ctx context.Context, tenant, id uuid.UUID, jwe string, encContext []byte) ([]byte, error) {
	var plaintext []byte
	err := s.withKey(ctx, tenant, id, "decrypt", keycrypto.PurposeEncrypt, func(e *cachedKey) (string, error) {
		var used string
		p, err := keycrypto.Decrypt(s.lookup(ctx, e, &used), jwe, encContext)
		if err != nil {
			return used, cryptoError(err, kms.MalformedCiphertext)
		}
		plaintext = p
		return used, nil
	})
	return plaintext, err
}

// GenerateDataKey returns a fresh 32-byte data key and the same key as a JWE
// under the primary version.
func (s *Service) GenerateDataKey(ctx context.Context, tenant, id uuid.UUID, encContext []byte) (plaintext []byte, jwe, kid string, err error) {
	kid, err = s.withPrimary(ctx, tenant, id, "generate_data_key", keycrypto.PurposeEncrypt, func(key *keycrypto.Key) (err error) {
		plaintext, jwe, err = keycrypto.GenerateDataKey(key, encContext)
		return err
	})
	if err != nil {
		return nil, "", "", err
	}
	return plaintext, jwe, kid, nil
}

// Sign signs payload with the primary version as a compact JWS.
func (s *Service) Sign(ctx context.Context, tenant, id uuid.UUID, payload []byte) (jws, kid string, err error) {
	return s.signOrMAC(ctx, tenant, id, "sign", keycrypto.PurposeSign, payload, keycrypto.Sign)
}

// MAC computes an HS256 JWS of payload with the primary version.
func (s *Service) MAC(ctx context.Context, tenant, id uuid.UUID, payload []byte) (jws, kid string, err error) {
	return s.signOrMAC(ctx, tenant, id, "mac", keycrypto.PurposeMAC, payload, keycrypto.MAC)
}

func (s *Service) signOrMAC(ctx context.Context, tenant, id uuid.UUID, op string, purpose keycrypto.Purpose, payload []byte,
	fn func(*keycrypto.Key, []byte) (string, error)) (jws, kid string, err error) {
	kid, err = s.withPrimary(ctx, tenant, id, op, purpose, func(key *keycrypto.Key) (err error) {
		jws, err = fn(key, payload)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return jws, kid, nil
}

// Verify checks a JWS made by any enabled version of a signing key. A
// signature that does not match is Valid=false, not an error.
func (s *Service) Verify(ctx context.Context, tenant, id uuid.UUID, jws string) (keycrypto.Verification, error) {
	return s.verify(ctx, tenant, id, "verify", keycrypto.PurposeSign, jws, keycrypto.Verify)
}

// VerifyMAC checks a JWS made by MAC.
func (s *Service) VerifyMAC(ctx context.Context, tenant, id uuid.UUID, jws string) (keycrypto.Verification, error) {
	return s.verify(ctx, tenant, id, "verify_mac", keycrypto.PurposeMAC, jws, keycrypto.VerifyMAC)
}

func (s *Service) verify(ctx context.Context, tenant, id uuid.UUID, op string, purpose keycrypto.Purpose, jws string,
	fn func(keycrypto.Lookup, string) (keycrypto.Verification, error)) (keycrypto.Verification, error) {
	var v keycrypto.Verification
	err := s.withKey(ctx, tenant, id, op, purpose, func(e *cachedKey) (string, error) {
		var used string
		res, err := fn(s.lookup(ctx, e, &used), jws)
		if err != nil {
			return used, cryptoError(err, kms.MalformedSignature)
		}
		v = res
		return used, nil
	})
	return v, err
}

// JWKS returns the public keys of the key's enabled versions (empty for
// symmetric keys). key_destroyed and key_disabled as for other operations.
func (s *Service) JWKS(ctx context.Context, tenant, id uuid.UUID) (jose.JSONWebKeySet, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	k, err := s.store.Key(ctx, tenant, id)
	if err != nil {
		return set, err
	}
	switch k.Status {
	case kms.StatusDestroyed:
		return set, kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", k.ID)
	case kms.StatusDisabled:
		return set, kms.New(kms.KeyDisabled, "elastic key %s is disabled", k.ID)
	}
	if !k.Algorithm.Asymmetric() {
		return set, nil
	}
	versions, err := s.store.EnabledVersions(ctx, tenant, k.ID)
	if err != nil {
		return set, err
	}
	pub := make([]*keycrypto.Key, 0, len(versions))
	for _, m := range versions {
		key, err := keycrypto.LoadPublic(k.Algorithm, m.Kid(), m.PublicJWK)
		if err != nil {
			return set, fmt.Errorf("load public key %s: %w", m.ID, err)
		}
		pub = append(pub, key)
	}
	return keycrypto.PublicJWKS(pub), nil
}
