package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/fixture"
)

// caller is who makes a request in the tests: username and password, an
// API key (sent in X-API-Key), or nobody (no credentials).
type caller struct {
	name     string
	username string
	password string
	apiKey   string
}

var nobody = caller{name: "no credentials"}

func (c caller) anonymous() bool { return c.username == "" && c.apiKey == "" }

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func (r response) str(t *testing.T, field string) string {
	t.Helper()
	v, ok := r.json(t)[field].(string)
	require.True(t, ok, "field %s in %s", field, r.body)
	return v
}

// do sends a request to the fixture. body may be nil, a string (sent as
// is, with JSON content type) or a value (marshalled).
func do(t *testing.T, k *fixture.KMS, who caller, method, path string, body any) response {
	t.Helper()
	return doCT(t, k, who, method, path, body, "application/json")
}

func doCT(t *testing.T, k *fixture.KMS, who caller, method, path string, body any, contentType string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, k.URL+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if who.username != "" {
		req.SetBasicAuth(who.username, who.password)
	}
	if who.apiKey != "" {
		req.Header.Set("X-API-Key", who.apiKey)
	}
	resp, err := k.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func demoCaller(t *testing.T, k *fixture.KMS, tenant int, role string) caller {
	t.Helper()
	u := k.User(t, tenant, role)
	return caller{name: role, username: u.Username, password: u.Password}
}
