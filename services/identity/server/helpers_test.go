package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/testkit/fixture"
)

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func contextWithHTTPClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// scriptedCodeFlow logs the demo user in through the real forms and
// exchanges the code with PKCE.
func scriptedCodeFlow(t *testing.T, idp *fixture.Identity, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	user, err := idp.Tenant(t, 0).User("user")
	require.NoError(t, err)
	ctx := contextWithHTTPClient(fixture.ITContext(t), idp.Client)
	verifier := oauth2.GenerateVerifier()
	loc, err := fixture.IdentityLogin(ctx, idp.Client, idp.Issuer, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), user.Username, user.Password)
	require.NoError(t, err)
	require.NotEmpty(t, loc.Query().Get("code"), loc.String())
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}
