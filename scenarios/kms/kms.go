// Package kms is the KMS scenario: the steps a newcomer watches in the demo
// and the end-to-end test of the KMS (kms_test.go runs the same steps
// against testkit fixtures). Every step performs a real operation through
// the KMS's generated Go client and checks the result.
package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms/api"
)

// Phase is the phase name of every KMS step.
const Phase = "kms"

// scenario holds what the steps share: the client and what earlier steps made.
type scenario struct {
	t      *target.Target
	client *api.ClientWithResponses

	tenantA, tenantB *demofile.Tenant

	aesKey      api.ElasticKey // created by create-key
	ciphertext  string         // from encrypt-decrypt, under version 1
	firstKid    string
	plaintext   []byte
	aad         []byte
	signKey     api.ElasticKey
	signature   string
	signPayload []byte

	// created is every key this run created, in order, recorded as soon as
	// the KMS answered 201 (even if the step then failed a later check),
	// so that destroy-created-keys leaves nothing behind.
	created []api.ElasticKey
}

// Steps returns the KMS scenario against t. The steps share state, so each
// call returns a fresh, independent scenario.
func Steps(t *target.Target) []step.Step {
	s := &scenario{t: t}
	steps := []step.Step{
		{Name: "readyz", Description: "the KMS answers ready on /readyz", Run: s.readyz, Timeout: t.HealthTimeout, Retry: &step.RetryPolicy{Attempts: 1}},
		{Name: "seeded-data-present", Description: "every demo tenant, user and key of demo.json is there and works", DependsOn: []string{"readyz"}, Run: s.seeded},
		{Name: "create-key", Description: "a writer creates an A256GCM key with a UUIDv7-prefixed name", DependsOn: []string{"readyz"}, Run: s.createKey, Retry: &step.RetryPolicy{Attempts: 1}},
		{Name: "encrypt-decrypt", Description: "encrypt to a compact JWE with a context, decrypt back to the plaintext", DependsOn: []string{"create-key"}, Run: s.encryptDecrypt},
		{Name: "tampered-ciphertext-refused", Description: "a flipped ciphertext bit or a wrong context is refused, never decrypted", DependsOn: []string{"encrypt-decrypt"}, Run: s.tampered},
		{Name: "rotate-decrypts-old", Description: "after rotation new ciphertexts use the new version and the old one still decrypts", DependsOn: []string{"encrypt-decrypt"}, Run: s.rotate, Retry: &step.RetryPolicy{Attempts: 1}},
		{Name: "sign-verify", Description: "an ES256 key signs a JWS that the KMS verifies; a tampered one is invalid", DependsOn: []string{"readyz"}, Run: s.signVerify, Retry: &step.RetryPolicy{Attempts: 1}},
		{Name: "verify-with-jwks", Description: "the signature verifies independently (go-jose) with the key's published JWKS", DependsOn: []string{"sign-verify"}, Run: s.verifyJWKS},
		{Name: "data-key", Description: "generate a data key, decrypt its wrapped form, and use it for AES-GCM", DependsOn: []string{"create-key"}, Run: s.dataKey},
		{Name: "no-credentials-401", Description: "a request without credentials gets 401 with a WWW-Authenticate challenge", DependsOn: []string{"readyz"}, Run: s.unauthenticated},
		{Name: "reader-forbidden-encrypt", Description: "a read-only user gets 403 on encrypt", DependsOn: []string{"create-key"}, Run: s.readerForbidden},
		{Name: "tenant-isolation", Description: "tenant B can neither see nor use tenant A's key", DependsOn: []string{"create-key"}, Run: s.tenantIsolation},
		{Name: "disabled-key-refused", Description: "a disabled key refuses encrypt and decrypt; re-enabled it works again", DependsOn: []string{"encrypt-decrypt"}, Run: s.disable, Retry: &step.RetryPolicy{Attempts: 1}},
		{Name: "audit-trail", Description: "the audit log records this run's operations, refusals included", DependsOn: []string{"encrypt-decrypt", "reader-forbidden-encrypt"}, Run: s.audit},
		// Last, so every step that uses the keys has run. It depends on
		// create-key, not on sign-verify: a sign-verify that failed after
		// creating its key must not leave that key behind on a persistent
		// stack, and the step destroys exactly the keys that were created.
		{Name: "destroy-created-keys", Description: "the keys this run created are destroyed: metadata kept as destroyed, operations get 410", DependsOn: []string{"create-key"}, Run: s.destroyCreated, Retry: &step.RetryPolicy{Attempts: 1}},
	}
	for i := range steps {
		steps[i].Phase = Phase
	}
	return steps
}

// api lazily builds the generated client, so that Steps itself cannot fail.
func (s *scenario) api() (*api.ClientWithResponses, error) {
	if s.client != nil {
		return s.client, nil
	}
	c, err := api.NewClientWithResponses(s.t.BaseURL, api.WithHTTPClient(s.t.HTTP))
	if err != nil {
		return nil, fmt.Errorf("KMS client: %w", err)
	}
	s.client = c
	return c, nil
}

// as authenticates a request as a demo user (HTTP Basic over TLS).
func as(u demofile.User) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.SetBasicAuth(u.Username, u.Password)
		return nil
	}
}

func (s *scenario) tenants() (*demofile.Tenant, *demofile.Tenant, error) {
	if s.tenantA != nil {
		return s.tenantA, s.tenantB, nil
	}
	a, err := s.t.Tenant(0)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.t.Tenant(1)
	if err != nil {
		return nil, nil, err
	}
	s.tenantA, s.tenantB = a, b
	return a, b, nil
}

// responseParts reads HTTPResponse and Body from a generated *XxxHTTPResponse;
// every generated response type has both fields, but no method for them.
func responseParts(r any) (*http.Response, []byte) {
	v := reflect.ValueOf(r)
	if !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return nil, nil
	}
	v = reflect.Indirect(v)
	resp, _ := v.FieldByName("HTTPResponse").Interface().(*http.Response)
	body, _ := v.FieldByName("Body").Interface().([]byte)
	return resp, body
}

// expect turns a generated client call into an error unless it answered one
// of want. r is the call's *XxxHTTPResponse, nil when err is set.
func expect(op string, r any, err error, want ...int) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	resp, body := responseParts(r)
	if resp == nil {
		return fmt.Errorf("%s: no HTTP response", op)
	}
	if err := target.CheckStatus(resp, body, want...); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// problemCode reads the RFC 9457 code of an error body.
func problemCode(body []byte) string {
	var p api.Problem
	if json.Unmarshal(body, &p) != nil || p.Code == nil {
		return ""
	}
	return *p.Code
}

// expectProblem checks a refusal: status, problem+json and problem code.
func expectProblem(op string, r any, err error, status int, codes ...string) error {
	if err := expect(op, r, err, status); err != nil {
		return err
	}
	resp, body := responseParts(r)
	return checkProblem(op, resp, body, codes...)
}

func checkProblem(op string, resp *http.Response, body []byte, codes ...string) error {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fmt.Errorf("%s: Content-Type %q, want application/problem+json", op, ct)
	}
	if len(codes) > 0 && !slices.Contains(codes, problemCode(body)) {
		return fmt.Errorf("%s: problem code %q, want %s: %s", op, problemCode(body), strings.Join(codes, " or "), target.Excerpt(body))
	}
	return nil
}

func (s *scenario) readyz(ctx context.Context) error {
	return s.t.WaitReady(ctx, 0)
}

func (s *scenario) seeded(ctx context.Context) error {
	c, err := s.api()
	if err != nil {
		return err
	}
	if len(s.t.Demo.Tenants) < 2 {
		return fmt.Errorf("demo file %s: %d tenant(s), the scenario needs two", s.t.DemoFile, len(s.t.Demo.Tenants))
	}
	var errs []error
	for i := range s.t.Demo.Tenants {
		tenant := &s.t.Demo.Tenants[i]
		if _, err := ids.ParseTenant(tenant.ID); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: id %q: %w", tenant.Name, tenant.ID, err))
		}
		for _, want := range []string{"admin", "writer", "reader"} {
			if _, err := target.UserWithRole(tenant, want); err != nil {
				errs = append(errs, err)
			}
		}
		for _, u := range tenant.Users {
			// Every demo user can list keys: reader is the lowest role.
			resp, err := c.ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{}, as(u))
			if err := expect(fmt.Sprintf("tenant %s: list keys as %q", tenant.Name, u.Username), resp, err, http.StatusOK); err != nil {
				errs = append(errs, err)
			}
		}
		admin, err := target.UserWithRole(tenant, "admin")
		if err != nil {
			continue
		}
		if len(tenant.Keys) == 0 {
			errs = append(errs, fmt.Errorf("tenant %s: no demo keys in %s", tenant.Name, s.t.DemoFile))
		}
		for _, k := range tenant.Keys {
			if err := s.checkSeededKey(ctx, c, admin, tenant, k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (s *scenario) checkSeededKey(ctx context.Context, c *api.ClientWithResponses, admin demofile.User, tenant *demofile.Tenant, k demofile.Key) error {
	id, err := ids.ParseEntity(k.ID)
	if err != nil {
		return fmt.Errorf("tenant %s: key %s: id %q: %w", tenant.Name, k.Name, k.ID, err)
	}
	resp, err := c.GetElasticKeyWithResponse(ctx, id, as(admin))
	op := fmt.Sprintf("tenant %s: get demo key %s", tenant.Name, k.Name)
	if err := expect(op, resp, err, http.StatusOK); err != nil {
		return err
	}
	got := resp.JSON200
	if got == nil || got.Name != k.Name || string(got.Algorithm) != k.Algorithm || string(got.Purpose) != k.Purpose {
		return fmt.Errorf("%s: got %s, want name %s algorithm %s purpose %s", op, target.Excerpt(resp.Body), k.Name, k.Algorithm, k.Purpose)
	}
	if got.Status != "enabled" {
		return fmt.Errorf("%s: status %s, want enabled", op, got.Status)
	}
	return nil
}

func (s *scenario) createKey(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	name := ids.NewEntity().String() + "-scenario-aes"
	desc := "created by the kms scenario"
	resp, err := c.CreateElasticKeyWithResponse(ctx, api.CreateElasticKeyRequest{Name: name, Algorithm: "A256GCM", Description: &desc}, as(writer))
	if err := expect("create key "+name, resp, err, http.StatusCreated); err != nil {
		return err
	}
	k := resp.JSON201
	if k != nil {
		s.created = append(s.created, *k)
	}
	switch {
	case k == nil:
		return fmt.Errorf("create key: no JSON body: %s", target.Excerpt(resp.Body))
	case k.Name != name || k.Algorithm != "A256GCM" || k.Purpose != "encrypt" || k.Status != "enabled":
		return fmt.Errorf("create key: got name %q algorithm %s purpose %s status %s", k.Name, k.Algorithm, k.Purpose, k.Status)
	case !strings.HasSuffix(resp.HTTPResponse.Header.Get("Location"), "/api/v1/elastic-keys/"+k.Id.String()):
		return fmt.Errorf("create key: Location %q does not name key %s", resp.HTTPResponse.Header.Get("Location"), k.Id)
	case k.Id.Version() != 7:
		return fmt.Errorf("create key: id %s is not a UUIDv7", k.Id)
	}
	s.aesKey = *k
	return nil
}

// userA returns a demo user of tenant A.
func (s *scenario) userA(role string) (demofile.User, error) {
	a, _, err := s.tenants()
	if err != nil {
		return demofile.User{}, err
	}
	return target.UserWithRole(a, role)
}

// clientAs returns the client and tenant A's demo user with role: what
// almost every step starts with.
func (s *scenario) clientAs(role string) (*api.ClientWithResponses, demofile.User, error) {
	c, err := s.api()
	if err != nil {
		return nil, demofile.User{}, err
	}
	u, err := s.userA(role)
	return c, u, err
}

func (s *scenario) encryptDecrypt(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	s.plaintext = []byte("the launch code is 0000 — " + ids.NewEntity().String())
	s.aad = []byte("order=42")
	enc, err := c.EncryptWithResponse(ctx, s.aesKey.Id, api.EncryptRequest{Plaintext: s.plaintext, Context: &s.aad}, as(writer))
	if err := expect("encrypt", enc, err, http.StatusOK); err != nil {
		return err
	}
	if enc.JSON200 == nil || strings.Count(enc.JSON200.Ciphertext, ".") != 4 || enc.JSON200.Kid == "" {
		return fmt.Errorf("encrypt: want a compact JWE (5 parts) and a kid, got %s", target.Excerpt(enc.Body))
	}
	if bytes.Contains(enc.Body, []byte(base64.StdEncoding.EncodeToString(s.plaintext))) {
		return errors.New("encrypt: the response contains the plaintext")
	}
	s.ciphertext, s.firstKid = enc.JSON200.Ciphertext, enc.JSON200.Kid
	return s.decryptEquals(ctx, c, writer, s.ciphertext, s.aad, s.plaintext)
}

func (s *scenario) decryptEquals(ctx context.Context, c *api.ClientWithResponses, u demofile.User, ciphertext string, aad, want []byte) error {
	req := api.DecryptRequest{Ciphertext: ciphertext}
	if aad != nil {
		req.Context = &aad
	}
	dec, err := c.DecryptWithResponse(ctx, s.aesKey.Id, req, as(u))
	if err := expect("decrypt", dec, err, http.StatusOK); err != nil {
		return err
	}
	if dec.JSON200 == nil || !bytes.Equal(dec.JSON200.Plaintext, want) {
		return fmt.Errorf("decrypt: plaintext differs from what was encrypted: %s", target.Excerpt(dec.Body))
	}
	return nil
}

// flipCiphertextBit changes one bit of the JWE ciphertext part (the 4th).
func flipCiphertextBit(jwe string) (string, error) {
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 {
		return "", fmt.Errorf("not a compact JWE: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || len(raw) == 0 {
		return "", fmt.Errorf("JWE ciphertext part: %v", err)
	}
	raw[0] ^= 0x01
	parts[3] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, "."), nil
}

func (s *scenario) tampered(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	bad, err := flipCiphertextBit(s.ciphertext)
	if err != nil {
		return err
	}
	dec, err := c.DecryptWithResponse(ctx, s.aesKey.Id, api.DecryptRequest{Ciphertext: bad, Context: &s.aad}, as(writer))
	if err := expectProblem("decrypt a tampered ciphertext", dec, err, http.StatusBadRequest, "decryption_failed", "malformed_ciphertext"); err != nil {
		return err
	}
	wrong := []byte("order=43")
	dec, err = c.DecryptWithResponse(ctx, s.aesKey.Id, api.DecryptRequest{Ciphertext: s.ciphertext, Context: &wrong}, as(writer))
	if err := expectProblem("decrypt with the wrong context", dec, err, http.StatusBadRequest, "context_mismatch", "decryption_failed"); err != nil {
		return err
	}
	// The genuine ciphertext still decrypts: the refusals changed nothing.
	return s.decryptEquals(ctx, c, writer, s.ciphertext, s.aad, s.plaintext)
}

func (s *scenario) rotate(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	rot, err := c.RotateElasticKeyWithResponse(ctx, s.aesKey.Id, as(writer))
	if err := expect("rotate", rot, err, http.StatusCreated); err != nil {
		return err
	}
	mk := rot.JSON201
	if mk == nil || mk.Version != 2 || !mk.Primary || mk.Kid == s.firstKid {
		return fmt.Errorf("rotate: want version 2, primary, new kid; got %s", target.Excerpt(rot.Body))
	}
	msg := []byte("after rotation")
	enc, err := c.EncryptWithResponse(ctx, s.aesKey.Id, api.EncryptRequest{Plaintext: msg}, as(writer))
	if err := expect("encrypt after rotation", enc, err, http.StatusOK); err != nil {
		return err
	}
	if enc.JSON200 == nil || enc.JSON200.Kid != mk.Kid {
		return fmt.Errorf("encrypt after rotation: kid %q, want the new version's %q", kidOf(enc.JSON200), mk.Kid)
	}
	if err := s.decryptEquals(ctx, c, writer, enc.JSON200.Ciphertext, nil, msg); err != nil {
		return fmt.Errorf("new ciphertext: %w", err)
	}
	if err := s.decryptEquals(ctx, c, writer, s.ciphertext, s.aad, s.plaintext); err != nil {
		return fmt.Errorf("ciphertext from before the rotation: %w", err)
	}
	return nil
}

func kidOf(r *api.EncryptResponse) string {
	if r == nil {
		return ""
	}
	return r.Kid
}

func (s *scenario) signVerify(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	name := ids.NewEntity().String() + "-scenario-es256"
	cr, err := c.CreateElasticKeyWithResponse(ctx, api.CreateElasticKeyRequest{Name: name, Algorithm: "ES256"}, as(writer))
	if err := expect("create signing key", cr, err, http.StatusCreated); err != nil {
		return err
	}
	if cr.JSON201 != nil {
		s.created = append(s.created, *cr.JSON201)
	}
	if cr.JSON201 == nil || cr.JSON201.Purpose != "sign" {
		return fmt.Errorf("create signing key: want purpose sign, got %s", target.Excerpt(cr.Body))
	}
	s.signKey = *cr.JSON201
	s.signPayload = []byte(`{"invoice":"INV-` + ids.NewEntity().String() + `","amount":100}`)
	sg, err := c.SignWithResponse(ctx, s.signKey.Id, api.SignRequest{Payload: s.signPayload}, as(writer))
	if err := expect("sign", sg, err, http.StatusOK); err != nil {
		return err
	}
	if sg.JSON200 == nil || strings.Count(sg.JSON200.Signature, ".") != 2 {
		return fmt.Errorf("sign: want a compact JWS, got %s", target.Excerpt(sg.Body))
	}
	s.signature = sg.JSON200.Signature
	reader, err := s.userA("reader")
	if err != nil {
		return err
	}
	// Verification needs only kms:verify, which a reader has.
	vr, err := c.VerifyWithResponse(ctx, s.signKey.Id, api.VerifyRequest{Signature: s.signature}, as(reader))
	if err := expect("verify", vr, err, http.StatusOK); err != nil {
		return err
	}
	if vr.JSON200 == nil || !vr.JSON200.Valid {
		return fmt.Errorf("verify: the KMS says its own signature is invalid: %s", target.Excerpt(vr.Body))
	}
	parts := strings.Split(s.signature, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("JWS signature part: %v", err)
	}
	sig[len(sig)-1] ^= 0x01
	tampered := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	vr, err = c.VerifyWithResponse(ctx, s.signKey.Id, api.VerifyRequest{Signature: tampered}, as(reader))
	if err := expect("verify a tampered signature", vr, err, http.StatusOK, http.StatusBadRequest); err != nil {
		return err
	}
	if vr.StatusCode() == http.StatusOK && (vr.JSON200 == nil || vr.JSON200.Valid) {
		return fmt.Errorf("verify a tampered signature: want valid=false, got %s", target.Excerpt(vr.Body))
	}
	return nil
}

func (s *scenario) verifyJWKS(ctx context.Context) error {
	c, reader, err := s.clientAs("reader")
	if err != nil {
		return err
	}
	resp, err := c.GetJwksWithResponse(ctx, s.signKey.Id, as(reader))
	if err := expect("get JWKS", resp, err, http.StatusOK); err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(resp.Body, &set); err != nil {
		return fmt.Errorf("parse JWKS: %w", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return fmt.Errorf("JWKS key %s is not a public key", k.KeyID)
		}
	}
	jws, err := jose.ParseSignedCompact(s.signature, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return fmt.Errorf("parse JWS: %w", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		return fmt.Errorf("JWKS has %d key(s) with kid %q, want 1", len(keys), kid)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return fmt.Errorf("verify with the JWKS key: %w", err)
	}
	if !bytes.Equal(payload, s.signPayload) {
		return fmt.Errorf("verified payload %q differs from the signed one", payload)
	}
	return nil
}

func (s *scenario) dataKey(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	resp, err := c.GenerateDataKeyWithResponse(ctx, s.aesKey.Id, api.GenerateDataKeyRequest{}, as(writer))
	if err := expect("generate data key", resp, err, http.StatusOK); err != nil {
		return err
	}
	dk := resp.JSON200
	if dk == nil || dk.Plaintext == nil || len(*dk.Plaintext) != 32 || dk.Ciphertext == "" {
		return fmt.Errorf("generate data key: want a 32-byte key and its wrapped form, got %s", target.Excerpt(resp.Body))
	}
	// The wrapped form unwraps to the same key through the KMS.
	if err := s.decryptEquals(ctx, c, writer, dk.Ciphertext, nil, *dk.Plaintext); err != nil {
		return fmt.Errorf("unwrap the data key: %w", err)
	}
	// And the key works locally, as envelope encryption would use it.
	block, err := aes.NewCipher(*dk.Plaintext)
	if err != nil {
		return fmt.Errorf("data key as AES-256: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("data key GCM: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("nonce: %w", err)
	}
	msg := []byte("a large file, encrypted locally")
	opened, err := gcm.Open(nil, nonce, gcm.Seal(nil, nonce, msg, nil), nil)
	if err != nil || !bytes.Equal(opened, msg) {
		return fmt.Errorf("local AES-GCM round trip with the data key failed: %v", err)
	}
	return nil
}

func (s *scenario) unauthenticated(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.t.URL("/api/v1/elastic-keys"), nil)
	if err != nil {
		return err
	}
	resp, body, err := s.t.Do(req)
	if err != nil {
		return fmt.Errorf("list keys without credentials: %w", err)
	}
	if err := target.CheckStatus(resp, body, http.StatusUnauthorized); err != nil {
		return fmt.Errorf("list keys without credentials: %w", err)
	}
	if err := checkProblem("list keys without credentials", resp, body); err != nil {
		return err
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		return errors.New("401 without a WWW-Authenticate challenge")
	}
	// Wrong password: also 401, same shape (no hint which part was wrong).
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	writer.Password += "-wrong"
	lr, err := c.ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{}, as(writer))
	return expectProblem("list keys with a wrong password", lr, err, http.StatusUnauthorized)
}

func (s *scenario) readerForbidden(ctx context.Context) error {
	c, reader, err := s.clientAs("reader")
	if err != nil {
		return err
	}
	enc, err := c.EncryptWithResponse(ctx, s.aesKey.Id, api.EncryptRequest{Plaintext: []byte("not allowed")}, as(reader))
	if err := expectProblem("encrypt as reader", enc, err, http.StatusForbidden, "forbidden"); err != nil {
		return err
	}
	// Reading the key is within a reader's rights.
	get, err := c.GetElasticKeyWithResponse(ctx, s.aesKey.Id, as(reader))
	return expect("get key as reader", get, err, http.StatusOK)
}

func (s *scenario) tenantIsolation(ctx context.Context) error {
	c, err := s.api()
	if err != nil {
		return err
	}
	_, b, err := s.tenants()
	if err != nil {
		return err
	}
	adminB, err := target.UserWithRole(b, "admin")
	if err != nil {
		return err
	}
	get, err := c.GetElasticKeyWithResponse(ctx, s.aesKey.Id, as(adminB))
	if err := expectProblem("tenant B gets tenant A's key", get, err, http.StatusNotFound, "not_found"); err != nil {
		return err
	}
	dec, err := c.DecryptWithResponse(ctx, s.aesKey.Id, api.DecryptRequest{Ciphertext: s.ciphertextOrDummy()}, as(adminB))
	if err := expectProblem("tenant B decrypts with tenant A's key", dec, err, http.StatusNotFound, "not_found"); err != nil {
		return err
	}
	list, err := c.ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{}, as(adminB))
	if err := expect("tenant B lists keys", list, err, http.StatusOK); err != nil {
		return err
	}
	for _, k := range list.JSON200.Items {
		if k.Id == s.aesKey.Id {
			return fmt.Errorf("tenant B's key list contains tenant A's key %s", k.Id)
		}
	}
	return nil
}

// ciphertextOrDummy lets tenant-isolation run even if encrypt-decrypt did not.
func (s *scenario) ciphertextOrDummy() string {
	if s.ciphertext != "" {
		return s.ciphertext
	}
	return "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
}

func (s *scenario) disable(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	setStatus := func(status api.UpdateElasticKeyRequestStatus) error {
		st := status
		resp, err := c.UpdateElasticKeyWithResponse(ctx, s.aesKey.Id, api.UpdateElasticKeyRequest{Status: &st}, as(writer))
		if err := expect("set key "+string(status), resp, err, http.StatusOK); err != nil {
			return err
		}
		if resp.JSON200 == nil || string(resp.JSON200.Status) != string(status) {
			return fmt.Errorf("set key %s: got %s", status, target.Excerpt(resp.Body))
		}
		return nil
	}
	if err := setStatus("disabled"); err != nil {
		return err
	}
	enc, err := c.EncryptWithResponse(ctx, s.aesKey.Id, api.EncryptRequest{Plaintext: []byte("refused")}, as(writer))
	if err := expectProblem("encrypt with a disabled key", enc, err, http.StatusConflict, "key_disabled"); err != nil {
		return err
	}
	dec, err := c.DecryptWithResponse(ctx, s.aesKey.Id, api.DecryptRequest{Ciphertext: s.ciphertext, Context: &s.aad}, as(writer))
	if err := expectProblem("decrypt with a disabled key", dec, err, http.StatusConflict, "key_disabled"); err != nil {
		return err
	}
	if err := setStatus("enabled"); err != nil {
		return err
	}
	return s.decryptEquals(ctx, c, writer, s.ciphertext, s.aad, s.plaintext)
}

func (s *scenario) audit(ctx context.Context) error {
	c, admin, err := s.clientAs("admin")
	if err != nil {
		return err
	}
	key := s.aesKey.Id.String()
	var success, refused bool
	params := &api.ListAuditEventsParams{}
	for page := 0; page < 50 && !(success && refused); page++ {
		resp, err := c.ListAuditEventsWithResponse(ctx, params, as(admin))
		if err := expect("list audit events", resp, err, http.StatusOK); err != nil {
			return err
		}
		for _, e := range resp.JSON200.Items {
			if e.ElasticKeyId == nil || *e.ElasticKeyId != key {
				continue
			}
			if e.Outcome == "success" && strings.Contains(e.Operation, "encrypt") && e.Principal != "" {
				success = true
			}
			if e.Outcome == "failure" && e.Principal != "" {
				refused = true
			}
		}
		if resp.JSON200.NextPageToken == "" {
			break
		}
		tok := resp.JSON200.NextPageToken
		params = &api.ListAuditEventsParams{PageToken: &tok}
	}
	if !success || !refused {
		return fmt.Errorf("audit log for key %s: successful encrypt recorded=%v, refused operation recorded=%v; want both", key, success, refused)
	}
	return nil
}

// destroyCreated destroys every key this run created (DELETE), so a run
// against a persistent stack leaves no live scenario keys behind. Destroy
// erases the material but keeps the metadata, so each key must then read
// back as destroyed and refuse its operation with 410 key_destroyed.
func (s *scenario) destroyCreated(ctx context.Context) error {
	c, writer, err := s.clientAs("writer")
	if err != nil {
		return err
	}
	if len(s.created) == 0 {
		return errors.New("no key of this run was recorded, although create-key passed")
	}
	var errs []error
	for _, k := range s.created {
		if err := s.destroyOne(ctx, c, writer, k); err != nil {
			errs = append(errs, fmt.Errorf("key %s (%s): %w", k.Name, k.Id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *scenario) destroyOne(ctx context.Context, c *api.ClientWithResponses, writer demofile.User, k api.ElasticKey) error {
	del, err := c.DestroyElasticKeyWithResponse(ctx, k.Id, as(writer))
	if err := expect("destroy", del, err, http.StatusOK); err != nil {
		return err
	}
	if del.JSON200 == nil || del.JSON200.Id != k.Id || del.JSON200.Status != "destroyed" {
		return fmt.Errorf("destroy: want the key with status destroyed, got %s", target.Excerpt(del.Body))
	}
	get, err := c.GetElasticKeyWithResponse(ctx, k.Id, as(writer))
	if err := expect("get after destroy", get, err, http.StatusOK); err != nil {
		return err
	}
	if get.JSON200 == nil || get.JSON200.Status != "destroyed" || get.JSON200.Name != k.Name {
		return fmt.Errorf("get after destroy: want the metadata kept with status destroyed, got %s", target.Excerpt(get.Body))
	}
	switch k.Purpose {
	case "encrypt":
		enc, err := c.EncryptWithResponse(ctx, k.Id, api.EncryptRequest{Plaintext: []byte("after destroy")}, as(writer))
		if err := expectProblem("encrypt after destroy", enc, err, http.StatusGone, "key_destroyed"); err != nil {
			return err
		}
		if k.Id == s.aesKey.Id && s.ciphertext != "" {
			// Crypto-shredding: what was encrypted under it is gone too.
			dec, err := c.DecryptWithResponse(ctx, k.Id, api.DecryptRequest{Ciphertext: s.ciphertext, Context: &s.aad}, as(writer))
			if err := expectProblem("decrypt after destroy", dec, err, http.StatusGone, "key_destroyed"); err != nil {
				return err
			}
		}
	case "sign":
		sg, err := c.SignWithResponse(ctx, k.Id, api.SignRequest{Payload: []byte("after destroy")}, as(writer))
		if err := expectProblem("sign after destroy", sg, err, http.StatusGone, "key_destroyed"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("the scenario created a key of purpose %s, which this step cannot check", k.Purpose)
	}
	return nil
}
