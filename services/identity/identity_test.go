package identity_test

import (
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
)

func TestClientRules(t *testing.T) {
	for _, tc := range []struct {
		desc        string
		c           identity.Client
		public      bool
		grant       string
		allowsGrant bool
		aud         string
		allowsAud   bool
		defaultAud  string
	}{
		{desc: "confidential client", c: identity.Client{SecretHash: "h", GrantTypes: []string{"client_credentials"}, Audiences: []string{"kms", "other"}},
			grant: "client_credentials", allowsGrant: true, aud: "other", allowsAud: true, defaultAud: "kms"},
		{desc: "public client without audiences", c: identity.Client{GrantTypes: []string{"authorization_code"}}, public: true,
			grant: "client_credentials", aud: "kms"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.public, tc.c.Public())
			assert.Equal(t, tc.allowsGrant, tc.c.AllowsGrant(tc.grant))
			assert.Equal(t, tc.allowsAud, tc.c.AllowsAudience(tc.aud))
			assert.Equal(t, tc.defaultAud, tc.c.DefaultAudience())
		})
	}
}

// TestFamilyStart: a token stored before families had a start counts from
// its own creation.
func TestFamilyStart(t *testing.T) {
	created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	started := created.Add(-time.Hour)
	assert.Equal(t, started, (&identity.RefreshToken{CreatedAt: created, FamilyStartedAt: started}).FamilyStart())
	assert.Equal(t, created, (&identity.RefreshToken{CreatedAt: created}).FamilyStart())
}

func TestClientAuthMethod(t *testing.T) {
	for _, tc := range []struct {
		desc                string
		c                   identity.Client
		method              string
		public, secret, tls bool
	}{
		{desc: "unrecorded with a secret uses it", c: identity.Client{SecretHash: "h"}, method: identity.AuthSecretBasic, secret: true},
		{desc: "unrecorded without a secret is public", c: identity.Client{}, method: identity.AuthNone, public: true},
		{desc: "recorded secret post", c: identity.Client{SecretHash: "h", TokenEndpointAuthMethod: identity.AuthSecretPost}, method: identity.AuthSecretPost, secret: true},
		{desc: "tls_client_auth has no secret and is not public", c: identity.Client{TokenEndpointAuthMethod: identity.AuthTLSClientAuth}, method: identity.AuthTLSClientAuth, tls: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.method, tc.c.AuthMethod())
			assert.Equal(t, tc.public, tc.c.Public())
			assert.Equal(t, tc.secret, tc.c.UsesSecret())
			assert.Equal(t, tc.tls, tc.c.UsesTLSClientAuth())
		})
	}
}

func TestCertificateMatches(t *testing.T) {
	spiffe, err := url.Parse("spiffe://passthru.test/kms")
	require.NoError(t, err)
	leaf := &x509.Certificate{URIs: []*url.URL{spiffe}, DNSNames: []string{"kms.passthru.test", "other.test"}}
	tlsClient := func(uri, dns string) identity.Client {
		return identity.Client{TokenEndpointAuthMethod: identity.AuthTLSClientAuth, TLSClientAuthSANURI: uri, TLSClientAuthSANDNS: dns}
	}
	for _, tc := range []struct {
		desc string
		c    identity.Client
		leaf *x509.Certificate
		want bool
	}{
		{desc: "URI SAN equal", c: tlsClient("spiffe://passthru.test/kms", ""), leaf: leaf, want: true},
		{desc: "DNS SAN equal (any of the leaf's)", c: tlsClient("", "other.test"), leaf: leaf, want: true},
		{desc: "URI SAN differs", c: tlsClient("spiffe://passthru.test/kms2", ""), leaf: leaf},
		{desc: "URI SAN is not matched by prefix", c: tlsClient("spiffe://passthru.test", ""), leaf: leaf},
		{desc: "DNS SAN differs in case", c: tlsClient("", "KMS.passthru.test"), leaf: leaf},
		{desc: "a DNS name registered as URI does not match", c: tlsClient("kms.passthru.test", ""), leaf: leaf},
		{desc: "both SANs registered matches nothing", c: tlsClient("spiffe://passthru.test/kms", "kms.passthru.test"), leaf: leaf},
		{desc: "no SAN registered matches nothing", c: tlsClient("", ""), leaf: leaf},
		{desc: "no certificate", c: tlsClient("spiffe://passthru.test/kms", ""), leaf: nil},
		{desc: "a secret client matches no certificate", c: identity.Client{SecretHash: "h", TLSClientAuthSANDNS: "kms.passthru.test"}, leaf: leaf},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.c.CertificateMatches(tc.leaf))
		})
	}
}
