package keycrypto

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
)

// The fuzz targets below feed Decrypt, Verify and VerifyMAC (what the KMS's
// decrypt and verify endpoints call) with mutations of genuine objects. Two
// properties must hold for every input: the answer is either a refusal with
// this package's typed error (never a panic, never another error) or exactly
// what one of the seeds protected; no mutation may make the KMS return a
// plaintext or payload nobody encrypted or signed.

// fuzzKeyFile holds fixed, test-only keys of every algorithm. Fixed rather
// than generated per run because inputs the fuzzer keeps (its cache, a
// crasher committed under testdata/fuzz) are objects made with these keys and
// must mean the same thing on the next run.
const fuzzKeyFile = "testdata/fuzz-keys.json"

// fuzzKeys loads every key of fuzzKeyFile.
func fuzzKeys(tb testing.TB) []*Key {
	tb.Helper()
	data, err := os.ReadFile(fuzzKeyFile)
	require.NoError(tb, err)
	var entries []struct {
		Algorithm Algorithm       `json:"algorithm"`
		Kid       string          `json:"kid"`
		Private   json.RawMessage `json:"private"`
	}
	require.NoError(tb, json.Unmarshal(data, &entries))
	keys := make([]*Key, 0, len(entries))
	for _, e := range entries {
		k, err := Load(e.Algorithm, e.Kid, e.Private)
		require.NoError(tb, err, "load fuzz key %s", e.Kid)
		keys = append(keys, k)
	}
	for _, a := range Algorithms() {
		require.True(tb, slices.ContainsFunc(keys, func(k *Key) bool { return k.Algorithm() == a }), "%s has no %s key", fuzzKeyFile, a)
	}
	return keys
}

// fuzzMessages are the only plaintexts and payloads the seeds protect.
var fuzzMessages = [][]byte{
	{},
	[]byte("attack at dawn"),
	bytes.Repeat([]byte{0x00, 0xff, '.', '"'}, 64),
}

// fuzzContexts are the only encryption contexts the seeds bind (nil: none).
var fuzzContexts = [][]byte{nil, []byte("tenant=a"), []byte(`{"purpose":"backup"}`)}

// malformedJOSE are inputs every parser must refuse without help from a key.
var malformedJOSE = []string{
	"", ".", "...", "....", "a.b.c", "a.b.c.d", "a.b.c.d.e", "e30.e30.e30.e30.e30", "e30..e30", "eyJhbGciOiJub25lIn0.e30.",
	strings.Repeat(".", 4096),
}

// checkTyped fails unless err is this package's typed error with a code a
// caller's input may cause: invalid material means the KMS's own state or
// wiring is wrong, which no request may provoke.
func checkTyped(t *testing.T, op string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: refusal is not a *keycrypto.Error: %T %v", op, err, err)
	}
	if e.Code == CodeInvalidMaterial {
		t.Fatalf("%s: input caused %v", op, err)
	}
}

func FuzzDecrypt(f *testing.F) {
	keys := fuzzKeys(f)
	lookup := lookupOf(keys...)
	for _, k := range keys {
		if k.Purpose() != PurposeEncrypt {
			continue
		}
		for i, msg := range fuzzMessages {
			for _, ctx := range fuzzContexts {
				jwe, err := Encrypt(k, msg, ctx)
				require.NoError(f, err)
				f.Add(jwe, ctx)
				f.Add(jwe, fuzzContexts[(i+1)%len(fuzzContexts)]) // genuine, other context
			}
		}
	}
	for _, s := range malformedJOSE {
		f.Add(s, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, compact string, ctx []byte) {
		plaintext, err := Decrypt(lookup, compact, ctx)
		if err != nil {
			checkTyped(t, "decrypt", err)
			require.Nil(t, plaintext, "a refusal returns no plaintext")
			if errors.Is(err, ErrWrongContext) {
				// Wrong context means genuine ciphertext: it opens under
				// the context it was bound to.
				opened := slices.ContainsFunc(fuzzContexts, func(c []byte) bool {
					_, err := Decrypt(lookup, compact, c)
					return err == nil
				})
				require.True(t, opened, "wrong_context for a ciphertext no context opens: %q", compact)
			}
			return
		}
		require.True(t, slices.ContainsFunc(fuzzMessages, func(m []byte) bool { return bytes.Equal(m, plaintext) }),
			"decrypt accepted %q and returned a plaintext nobody encrypted: %q", compact, plaintext)
		require.True(t, slices.ContainsFunc(fuzzContexts, func(c []byte) bool { return bytes.Equal(c, ctx) }),
			"decrypt accepted %q under a context nobody bound: %q", compact, ctx)
	})
}

func FuzzVerify(f *testing.F) {
	keys := fuzzKeys(f)
	lookup := lookupOf(keys...)
	for _, k := range keys {
		for _, msg := range fuzzMessages {
			var (
				jws string
				err error
			)
			switch k.Purpose() {
			case PurposeSign:
				jws, err = Sign(k, msg)
			case PurposeMAC:
				jws, err = MAC(k, msg)
			default:
				continue
			}
			require.NoError(f, err)
			f.Add(jws)
		}
	}
	// A JWE is a JOSE object too: the verifiers must refuse it cleanly.
	jwe, err := Encrypt(keys[0], fuzzMessages[1], nil)
	require.NoError(f, err)
	f.Add(jwe)
	for _, s := range malformedJOSE {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, compact string) {
		valid := 0
		for _, v := range []struct {
			op     string
			verify func(Lookup, string) (Verification, error)
		}{{"verify", Verify}, {"verify mac", VerifyMAC}} {
			res, err := v.verify(lookup, compact)
			if err != nil {
				checkTyped(t, v.op, err)
				require.Equal(t, Verification{}, res, "%s: a refusal carries no result", v.op)
				continue
			}
			require.NotEmpty(t, res.Kid, "%s: a verified object names its key", v.op)
			if !res.Valid {
				require.Nil(t, res.Payload, "%s: an invalid signature returns no payload", v.op)
				continue
			}
			valid++
			require.True(t, slices.ContainsFunc(fuzzMessages, func(m []byte) bool { return bytes.Equal(m, res.Payload) }),
				"%s accepted %q with a payload nobody signed: %q", v.op, compact, res.Payload)
			jws, err := jose.ParseSignedCompact(compact, allSignatureAlgorithms)
			require.NoError(t, err, "%s accepted what go-jose cannot parse", v.op)
			require.Equal(t, res.Kid, jws.Signatures[0].Protected.KeyID, "%s: the key that verified is the one the header names", v.op)
		}
		require.LessOrEqual(t, valid, 1, "one object cannot be both a signature and a MAC")
	})
}
