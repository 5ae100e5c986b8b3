package oauth_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/demofile"
)

// createClient registers a client through the admin API.
func createClient(t *testing.T, e *env, adminToken string, body map[string]any) demofile.Client {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, e.url("/api/v1/admin/clients"), bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := e.idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		Kind         string   `json:"kind"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	return demofile.Client{ClientID: out.ClientID, ClientSecret: out.ClientSecret, Kind: out.Kind, RedirectURIs: out.RedirectURIs}
}
