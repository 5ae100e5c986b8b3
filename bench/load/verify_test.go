package load

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestVerifyEncrypt(t *testing.T) {
	jwe := b64url(`{"alg":"dir","enc":"A256GCM","kid":"k1"}`) + "..iv.ct.tag"
	cases := []struct {
		desc    string
		status  int
		body    []byte
		wantErr string
	}{
		{desc: "a compact JWE for the kid", status: 200, body: jsonBody(t, map[string]string{"ciphertext": jwe, "kid": "k1"})},
		{desc: "wrong status", status: 401, body: []byte(`{"title":"Unauthorized"}`), wantErr: "HTTP 401: want 200"},
		{desc: "not JSON", status: 200, body: []byte("<html>"), wantErr: "not the expected JSON"},
		{desc: "not a JWE", status: 200, body: jsonBody(t, map[string]string{"ciphertext": "abc", "kid": "k1"}), wantErr: "not a compact JWE"},
		{desc: "header of another kid", status: 200, body: jsonBody(t, map[string]string{"ciphertext": jwe, "kid": "k2"}), wantErr: "want dir, A256GCM"},
		{desc: "wrong algorithm", status: 200, body: jsonBody(t, map[string]string{"ciphertext": b64url(`{"alg":"A256KW","enc":"A256GCM","kid":"k1"}`) + ".k.iv.ct.tag", "kid": "k1"}), wantErr: "want dir"},
		{desc: "header not base64", status: 200, body: jsonBody(t, map[string]string{"ciphertext": "!!..iv.ct.tag", "kid": "k1"}), wantErr: "does not decode"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ct, err := verifyEncrypt(tc.status, tc.body)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				var re *ResponseError
				assert.ErrorAs(t, err, &re)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, jwe, ct)
		})
	}
}

func TestVerifyDecrypt(t *testing.T) {
	want := []byte("exact plaintext")
	assert.NoError(t, verifyDecrypt(200, jsonBody(t, map[string][]byte{"plaintext": want}), want))
	assert.ErrorContains(t, verifyDecrypt(200, jsonBody(t, map[string][]byte{"plaintext": []byte("exact plaintexT")}), want), "differ")
	assert.ErrorContains(t, verifyDecrypt(200, []byte(`{}`), want), "differ", "no plaintext at all")
	assert.ErrorContains(t, verifyDecrypt(200, []byte(`{"plaintext":"not base64!"}`), want), "not the expected JSON")
	assert.ErrorContains(t, verifyDecrypt(503, nil, want), "HTTP 503")
}

func TestVerifySign(t *testing.T) {
	payload := []byte("payload")
	sig := make([]byte, 64)
	jws := b64url(`{"alg":"ES256","kid":"k1"}`) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(sig)
	got, err := verifySign(200, jsonBody(t, map[string]string{"signature": jws, "kid": "k1"}), payload)
	require.NoError(t, err)
	assert.Equal(t, jws, got)

	cases := []struct {
		desc, signature, wantErr string
	}{
		{desc: "another payload", signature: b64url(`{"alg":"ES256"}`) + "." + b64url("other") + "." + base64.RawURLEncoding.EncodeToString(sig), wantErr: "not the signed payload"},
		{desc: "another algorithm", signature: b64url(`{"alg":"RS256"}`) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(sig), wantErr: "not ES256"},
		{desc: "short signature", signature: b64url(`{"alg":"ES256"}`) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".AAAA", wantErr: "64 bytes"},
		{desc: "not a JWS", signature: "a.b", wantErr: "not a compact JWS"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := verifySign(200, jsonBody(t, map[string]string{"signature": tc.signature, "kid": "k1"}), payload)
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestVerifyValid(t *testing.T) {
	assert.NoError(t, verifyValid(200, []byte(`{"valid":true,"kid":"k"}`)))
	assert.ErrorContains(t, verifyValid(200, []byte(`{"valid":false}`)), "not valid")
	assert.ErrorContains(t, verifyValid(200, []byte(`{}`)), "not valid", "a missing field is not a yes")
	assert.ErrorContains(t, verifyValid(400, []byte(`{"valid":true}`)), "HTTP 400")
}

func TestVerifyToken(t *testing.T) {
	good := map[string]any{"access_token": "h.p.s", "token_type": "Bearer", "expires_in": 600}
	r, err := verifyToken(200, jsonBody(t, good))
	require.NoError(t, err)
	assert.Equal(t, tokenResponse{AccessToken: "h.p.s", TokenType: "Bearer", ExpiresIn: 600}, r)
	for desc, body := range map[string]map[string]any{
		"no access_token":  {"token_type": "Bearer", "expires_in": 600},
		"not a JWT":        {"access_token": "opaque", "token_type": "Bearer", "expires_in": 600},
		"not bearer":       {"access_token": "h.p.s", "token_type": "DPoP", "expires_in": 600},
		"without lifetime": {"access_token": "h.p.s", "token_type": "Bearer"},
	} {
		_, err := verifyToken(200, jsonBody(t, body))
		assert.ErrorContains(t, err, "lacks a JWT bearer access_token", desc)
	}
	_, err = verifyToken(http.StatusUnauthorized, []byte(`{"error":"invalid_client"}`))
	assert.ErrorContains(t, err, "HTTP 401")
}

func TestVerifyActive(t *testing.T) {
	assert.NoError(t, verifyActive(200, []byte(`{"active":true,"scope":"kms:read"}`)))
	assert.ErrorContains(t, verifyActive(200, []byte(`{"active":false}`)), "not active")
	assert.ErrorContains(t, verifyActive(401, []byte(`{"error":"invalid_client"}`)), "HTTP 401")
}
