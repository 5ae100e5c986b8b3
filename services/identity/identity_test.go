package identity_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

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
