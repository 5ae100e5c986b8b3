package kms_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kmsscenario "github.com/passthru-dev/passthru/scenarios/kms"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/scenarios/target/tamper"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

var singleKey = regexp.MustCompile(`^/api/v1/elastic-keys/[0-9a-f-]{36}$`)

func on(method, suffix string, status int) func(*http.Request, []byte, *tamper.Response) bool {
	return func(r *http.Request, _ []byte, resp *tamper.Response) bool {
		return r.Method == method && strings.HasSuffix(r.URL.Path, suffix) && resp.Status == status
	}
}

func setJSON(status int, body string) func(*tamper.Response) {
	return func(resp *tamper.Response) {
		resp.Status, resp.Body = status, []byte(body)
		resp.Header.Set("Content-Type", "application/json")
	}
}

// otherKeyJWKS replaces every key of a JWKS with a fresh ES256 key under the
// same kid: the signature must no longer verify.
func otherKeyJWKS(t *testing.T) func(*tamper.Response) {
	return func(resp *tamper.Response) {
		var set jose.JSONWebKeySet
		require.NoError(t, json.Unmarshal(resp.Body, &set))
		for i, k := range set.Keys {
			priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			require.NoError(t, err)
			set.Keys[i] = jose.JSONWebKey{Key: &priv.PublicKey, KeyID: k.KeyID, Algorithm: k.Algorithm, Use: k.Use}
		}
		body, err := json.Marshal(set)
		require.NoError(t, err)
		resp.Body = body
	}
}

// TestStepsNoticeALyingKMS puts a rewriting proxy in front of a real KMS:
// each rule makes the server lie in one way, and the step that checks that
// behaviour must fail. A step that passed anyway would be checking nothing.
func TestStepsNoticeALyingKMS(t *testing.T) {
	cases := []struct {
		desc   string
		rule   func(t *testing.T) tamper.Rule
		failed string
	}{
		{
			desc: "not ready",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("GET", "/readyz", 200), Rewrite: setJSON(503, `{"not_ready":["db"]}`)}
			},
			failed: "readyz",
		},
		{
			desc: "a seeded key reports another purpose",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{
					Match: func(r *http.Request, _ []byte, resp *tamper.Response) bool {
						return r.Method == "GET" && singleKey.MatchString(r.URL.Path) && strings.Contains(string(resp.Body), `"name":"demo-`)
					},
					Rewrite: func(resp *tamper.Response) {
						resp.Body = []byte(strings.NewReplacer(`"purpose":"sign"`, `"purpose":"encrypt"`, `"purpose":"encrypt"`, `"purpose":"sign"`).Replace(string(resp.Body)))
					},
				}
			},
			failed: "seeded-data-present",
		},
		{
			desc: "a seeded key reads back disabled",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{
					Match: func(r *http.Request, _ []byte, resp *tamper.Response) bool {
						return r.Method == "GET" && singleKey.MatchString(r.URL.Path) && strings.Contains(string(resp.Body), `"name":"demo-`)
					},
					Rewrite: func(resp *tamper.Response) {
						resp.Body = []byte(strings.Replace(string(resp.Body), `"status":"enabled"`, `"status":"disabled"`, 1))
					},
				}
			},
			failed: "seeded-data-present",
		},
		{
			desc: "create reports another algorithm",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/elastic-keys", 201), Rewrite: func(r *tamper.Response) {
					r.Body = []byte(strings.Replace(string(r.Body), `"algorithm":"A256GCM"`, `"algorithm":"A256KW"`, 1))
				}}
			},
			failed: "create-key",
		},
		{
			desc: "encrypt answers no JWE",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/encrypt", 200), Rewrite: setJSON(200, `{"ciphertext":"not-a-jwe","kid":"k"}`)}
			},
			failed: "encrypt-decrypt",
		},
		{
			desc: "the wrong context decrypts",
			rule: func(*testing.T) tamper.Rule {
				wrongContext := base64.StdEncoding.EncodeToString([]byte("order=43"))
				return tamper.Rule{
					Match: func(r *http.Request, body []byte, resp *tamper.Response) bool {
						return on("POST", "/decrypt", 400)(r, body, resp) && strings.Contains(string(body), wrongContext)
					},
					Rewrite: setJSON(200, `{"plaintext":"b3RoZXI="}`),
				}
			},
			failed: "tampered-ciphertext-refused",
		},
		{
			desc: "sign answers no JWS",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/sign", 200), Rewrite: setJSON(200, `{"signature":"not-a-jws","kid":"k"}`)}
			},
			failed: "sign-verify",
		},
		{
			desc: "the JWKS lacks the signing key",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("GET", "/jwks", 200), Rewrite: setJSON(200, `{"keys":[]}`)}
			},
			failed: "verify-with-jwks",
		},
		{
			desc: "a refusal is not problem+json",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/encrypt", 403), Rewrite: func(r *tamper.Response) { r.Header.Set("Content-Type", "application/json") }}
			},
			failed: "reader-forbidden-encrypt",
		},
		{
			desc: "a disabled key still decrypts",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/decrypt", 409), Rewrite: setJSON(200, `{"plaintext":"b3RoZXI="}`)}
			},
			failed: "disabled-key-refused",
		},
		{
			desc: "create answers without a Location",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/elastic-keys", 201), Rewrite: func(r *tamper.Response) { r.Header.Del("Location") }}
			},
			failed: "create-key",
		},
		{
			desc: "decrypt returns another plaintext",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/decrypt", 200), Rewrite: setJSON(200, `{"plaintext":"b3RoZXI="}`)}
			},
			failed: "encrypt-decrypt",
		},
		{
			desc: "a tampered ciphertext decrypts",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/decrypt", 400), Rewrite: setJSON(200, `{"plaintext":"b3RoZXI="}`)}
			},
			failed: "tampered-ciphertext-refused",
		},
		{
			desc: "rotation does not make a new version",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/material-keys", 201), Rewrite: func(r *tamper.Response) {
					r.Body = []byte(strings.Replace(string(r.Body), `"version":2`, `"version":1`, 1))
				}}
			},
			failed: "rotate-decrypts-old",
		},
		{
			desc: "every signature verifies",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/verify", 200), Rewrite: setJSON(200, `{"valid":true}`)}
			},
			failed: "sign-verify",
		},
		{
			desc: "the JWKS publishes another key",
			rule: func(t *testing.T) tamper.Rule {
				return tamper.Rule{Match: on("GET", "/jwks", 200), Rewrite: otherKeyJWKS(t)}
			},
			failed: "verify-with-jwks",
		},
		{
			desc: "the data key is short",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/generate-data-key", 200), Rewrite: func(r *tamper.Response) {
					var m map[string]any
					_ = json.Unmarshal(r.Body, &m)
					m["plaintext"] = base64.StdEncoding.EncodeToString(make([]byte, 16))
					r.Body, _ = json.Marshal(m)
				}}
			},
			failed: "data-key",
		},
		{
			desc: "401 without a challenge",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("GET", "/elastic-keys", 401), Rewrite: func(r *tamper.Response) { r.Header.Del("WWW-Authenticate") }}
			},
			failed: "no-credentials-401",
		},
		{
			desc: "a reader may encrypt",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/encrypt", 403), Rewrite: setJSON(200, `{"ciphertext":"a.b.c.d.e","kid":"k"}`)}
			},
			failed: "reader-forbidden-encrypt",
		},
		{
			desc: "another tenant's key is visible",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: func(r *http.Request, _ []byte, resp *tamper.Response) bool {
					return r.Method == "GET" && singleKey.MatchString(r.URL.Path) && resp.Status == 404
				}, Rewrite: setJSON(200, `{"id":"x"}`)}
			},
			failed: "tenant-isolation",
		},
		{
			desc: "a disabled key still encrypts",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/encrypt", 409), Rewrite: setJSON(200, `{"ciphertext":"a.b.c.d.e","kid":"k"}`)}
			},
			failed: "disabled-key-refused",
		},
		{
			desc: "the audit log is empty",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("GET", "/audit-events", 200), Rewrite: setJSON(200, `{"items":[],"next_page_token":""}`)}
			},
			failed: "audit-trail",
		},
		{
			desc: "destroy answers but the key stays enabled",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{
					Match: func(r *http.Request, _ []byte, resp *tamper.Response) bool {
						return r.Method == "DELETE" && singleKey.MatchString(r.URL.Path) && resp.Status == 200
					},
					Rewrite: func(r *tamper.Response) {
						r.Body = []byte(strings.Replace(string(r.Body), `"status":"destroyed"`, `"status":"enabled"`, 1))
					},
				}
			},
			failed: "destroy-created-keys",
		},
		{
			desc: "a destroyed key reads back as enabled",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{
					Match: func(r *http.Request, _ []byte, resp *tamper.Response) bool {
						return r.Method == "GET" && singleKey.MatchString(r.URL.Path) && strings.Contains(string(resp.Body), `"status":"destroyed"`)
					},
					Rewrite: func(r *tamper.Response) {
						r.Body = []byte(strings.Replace(string(r.Body), `"status":"destroyed"`, `"status":"enabled"`, 1))
					},
				}
			},
			failed: "destroy-created-keys",
		},
		{
			desc: "a destroyed key still encrypts",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/encrypt", 410), Rewrite: setJSON(200, `{"ciphertext":"a.b.c.d.e","kid":"k"}`)}
			},
			failed: "destroy-created-keys",
		},
		{
			desc: "a destroyed key still signs",
			rule: func(*testing.T) tamper.Rule {
				return tamper.Rule{Match: on("POST", "/sign", 410), Rewrite: setJSON(200, `{"signature":"a.b.c","kid":"k"}`)}
			},
			failed: "destroy-created-keys",
		},
	}
	pkiDir := t.TempDir()
	k := fixture.StartKMS(t, dbtest.Backend("sqlite"), fixture.WithKMSPKIDir(pkiDir))
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			proxy := tamper.Start(t, pkiDir, k.URL, k.Client, tc.rule(t))
			tgt, err := target.New(target.Options{Service: "kms", BaseURL: proxy, DemoFile: k.DemoFile, HealthTimeout: 300 * time.Millisecond})
			require.NoError(t, err)
			sum, err := (&step.Runner{StepTimeout: 20 * time.Second}).Run(fixture.ITContext(t), kmsscenario.Steps(tgt))
			require.NoError(t, err)
			outcomes := map[string]step.Outcome{}
			for _, r := range sum.Results {
				outcomes[r.Name] = r.Outcome
				if r.Name == tc.failed {
					t.Logf("%s failed as it should: %v", r.Name, r.Err)
				}
			}
			assert.Equal(t, step.Failed, outcomes[tc.failed], "the lie must fail %s", tc.failed)
			if tc.failed != "readyz" {
				assert.Equal(t, step.Passed, outcomes["readyz"], "the rest of the run still works through the proxy")
			}
		})
	}
}
