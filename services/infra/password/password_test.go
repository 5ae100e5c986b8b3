package password

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/c2sp/wycheproof"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fast keeps PBKDF2 cheap in tests; production cost is exercised once in
// TestDefaultParameters.
var fast = Hasher{Iterations: MinIterations}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		hasher  Hasher
		plain   string
		try     string
		wantErr error
	}{
		{desc: "matching password", hasher: fast, plain: "correct horse", try: "correct horse"},
		{desc: "wrong password", hasher: fast, plain: "correct horse", try: "correct horsE", wantErr: ErrMismatch},
		{desc: "empty password hashes and matches", hasher: fast, plain: "", try: ""},
		{desc: "empty attempt against non-empty hash", hasher: fast, plain: "x", try: "", wantErr: ErrMismatch},
		{desc: "unicode and NUL bytes are significant", hasher: fast, plain: "pä\x00ss", try: "pä\x00ss"},
		{desc: "prefix of password does not match", hasher: fast, plain: "pä\x00ss", try: "pä", wantErr: ErrMismatch},
		{desc: "custom salt length", hasher: Hasher{Iterations: 1500, SaltLen: 16}, plain: "s", try: "s"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			enc, err := tc.hasher.Hash(tc.plain)
			require.NoError(t, err)
			err = Verify(enc, tc.try)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestHashEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		hasher     Hasher
		wantIter   string
		wantSaltLn int
	}{
		{desc: "explicit parameters are encoded", hasher: Hasher{Iterations: 1234, SaltLen: 20}, wantIter: "i=1234", wantSaltLn: 20},
		{desc: "zero salt length means default", hasher: Hasher{Iterations: 1000}, wantIter: "i=1000", wantSaltLn: DefaultSaltLen},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			a, err := tc.hasher.Hash("same")
			require.NoError(t, err)
			b, err := tc.hasher.Hash("same")
			require.NoError(t, err)
			assert.NotEqual(t, a, b, "fresh salt per hash")
			parts := strings.Split(a, "$")
			require.Len(t, parts, 5)
			assert.Equal(t, "pbkdf2-sha256", parts[1])
			assert.Equal(t, tc.wantIter, parts[2])
			salt, err := base64.RawStdEncoding.DecodeString(parts[3])
			require.NoError(t, err)
			assert.Len(t, salt, tc.wantSaltLn)
			dk, err := base64.RawStdEncoding.DecodeString(parts[4])
			require.NoError(t, err)
			assert.Len(t, dk, KeyLen)
		})
	}
}

func TestDefaultParameters(t *testing.T) {
	t.Parallel()
	// One real production-cost hash, so the defaults are proven, not assumed.
	enc, err := Hasher{}.Hash("pw")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$pbkdf2-sha256$i=600000$"), enc)
	parts := strings.Split(enc, "$")
	salt, err := base64.RawStdEncoding.DecodeString(parts[3])
	require.NoError(t, err)
	assert.Len(t, salt, 32)
}

func TestHashRejectsBadParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		hasher Hasher
	}{
		{desc: "too few iterations", hasher: Hasher{Iterations: 999}},
		{desc: "negative iterations", hasher: Hasher{Iterations: -1}},
		{desc: "too many iterations", hasher: Hasher{Iterations: MaxIterations + 1}},
		{desc: "salt too short", hasher: Hasher{Iterations: 1000, SaltLen: 15}},
		{desc: "salt too long", hasher: Hasher{Iterations: 1000, SaltLen: MaxSaltLen + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			_, err := tc.hasher.Hash("pw")
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	good, err := fast.Hash("pw")
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	salt16 := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	key := parts[4]
	with := func(scheme, iter, salt, key string) string {
		return strings.Join([]string{"", scheme, iter, salt, key}, "$")
	}
	tests := []struct {
		desc    string
		encoded string
	}{
		{desc: "empty string", encoded: ""},
		{desc: "bcrypt hash", encoded: "$2a$10$abcdefghijklmnopqrstuuJ6d8f7X7Q0Q1y1y1y1y1y1y1y1y1y1y"},
		{desc: "missing leading dollar", encoded: strings.TrimPrefix(good, "$")},
		{desc: "extra field", encoded: good + "$x"},
		{desc: "other scheme", encoded: with("pbkdf2-sha1", parts[2], parts[3], key)},
		{desc: "missing i=", encoded: with(parts[1], "1000", parts[3], key)},
		{desc: "rounds= spelling", encoded: with(parts[1], "rounds=1000", parts[3], key)},
		{desc: "empty iteration count", encoded: with(parts[1], "i=", parts[3], key)},
		{desc: "leading zero", encoded: with(parts[1], "i=01000", parts[3], key)},
		{desc: "plus sign", encoded: with(parts[1], "i=+1000", parts[3], key)},
		{desc: "hex count", encoded: with(parts[1], "i=0x3e8", parts[3], key)},
		{desc: "negative count", encoded: with(parts[1], "i=-1000", parts[3], key)},
		{desc: "absurdly low count", encoded: with(parts[1], "i=999", parts[3], key)},
		{desc: "absurdly high count", encoded: with(parts[1], "i=10000001", parts[3], key)},
		{desc: "count overflowing int", encoded: with(parts[1], "i=99999999999999999999", parts[3], key)},
		{desc: "salt too short", encoded: with(parts[1], parts[2], base64.RawStdEncoding.EncodeToString(make([]byte, 15)), key)},
		{desc: "salt too long", encoded: with(parts[1], parts[2], base64.RawStdEncoding.EncodeToString(make([]byte, MaxSaltLen+1)), key)},
		{desc: "salt with padding", encoded: with(parts[1], parts[2], salt16+"==", key)},
		{desc: "salt not base64", encoded: with(parts[1], parts[2], "!!!!!!!!!!!!!!!!!!!!!!", key)},
		{desc: "salt non-canonical trailing bits", encoded: with(parts[1], parts[2], salt16[:len(salt16)-1]+"B", key)},
		{desc: "key too short", encoded: with(parts[1], parts[2], parts[3], key[:20])},
		{desc: "key too long", encoded: with(parts[1], parts[2], parts[3], key+"AAAA")},
		{desc: "key not base64", encoded: with(parts[1], parts[2], parts[3], strings.Repeat("*", len(key)))},
		{desc: "key non-canonical trailing bits", encoded: with(parts[1], parts[2], parts[3], key[:len(key)-1]+"B")},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := Verify(tc.encoded, "pw")
			require.ErrorIs(t, err, ErrMalformed)
			assert.NotErrorIs(t, err, ErrMismatch)
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		hasher Hasher
	}{
		{desc: "low iterations", hasher: Hasher{Iterations: 1000}},
		{desc: "custom salt length", hasher: Hasher{Iterations: 2000, SaltLen: 64}},
		{desc: "invalid parameters fall back to defaults", hasher: Hasher{Iterations: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			// The dummy must go through the same parse+derive path, i.e. be a
			// well-formed hash with the hasher's parameters.
			iter, saltLen, err := tc.hasher.params()
			if err != nil {
				iter, saltLen = DefaultIterations, DefaultSaltLen
			}
			dummy := dummyHash(iter, saltLen)
			require.ErrorIs(t, Verify(dummy, "anything"), ErrMismatch)
			pi, salt, _, err := parse(dummy)
			require.NoError(t, err)
			assert.Equal(t, iter, pi)
			assert.Len(t, salt, saltLen)
			tc.hasher.VerifyDummy("anything") // must not panic
		})
	}
}

func TestRFC6070StyleVectors(t *testing.T) {
	t.Parallel()
	// PBKDF2-HMAC-SHA256 vectors in the style of RFC 6070 (published with
	// RFC 7914 §11 and widely reproduced, e.g. in Go's own tests).
	tests := []struct {
		desc       string
		password   string
		salt       string
		iterations int
		dk         string
	}{
		{desc: "password/salt c=1", password: "password", salt: "salt", iterations: 1, dk: "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"},
		{desc: "password/salt c=2", password: "password", salt: "salt", iterations: 2, dk: "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"},
		{desc: "password/salt c=4096", password: "password", salt: "salt", iterations: 4096, dk: "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"},
		{desc: "long password and salt c=4096 dkLen=40", password: "passwordPASSWORDpassword", salt: "saltSALTsaltSALTsaltSALTsaltSALTsalt", iterations: 4096, dk: "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"},
		{desc: "embedded NULs c=4096 dkLen=16", password: "pass\x00word", salt: "sa\x00lt", iterations: 4096, dk: "89b69d0516f829893c696226650a8687"},
		{desc: "RFC 7914 passwd/salt c=1 dkLen=64", password: "passwd", salt: "salt", iterations: 1, dk: "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"},
		{desc: "RFC 7914 Password/NaCl c=80000 dkLen=64", password: "Password", salt: "NaCl", iterations: 80000, dk: "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			want, err := hex.DecodeString(tc.dk)
			require.NoError(t, err)
			got, err := derive(tc.password, []byte(tc.salt), tc.iterations, len(want))
			require.NoError(t, err)
			assert.Equal(t, tc.dk, hex.EncodeToString(got))
			checkThroughVerify(t, tc.password, []byte(tc.salt), tc.iterations, want)
		})
	}
}

// TestRFC6070StyleGiantVector runs the c=16777216 vector of the same family:
// ~3 s of CPU normally, minutes under the race detector, so it is skipped
// (visibly) under -short and -race.
func TestRFC6070StyleGiantVector(t *testing.T) {
	t.Parallel()
	if testing.Short() || raceEnabled {
		t.Skip("skipping the 16777216-iteration PBKDF2 vector under -short or -race")
	}
	got, err := derive("password", []byte("salt"), 16_777_216, 32)
	require.NoError(t, err)
	assert.Equal(t, "cf81c66fe8cfc04d1f31ecb65dab4089f7f179e89b3b0bcb17ad10e3ac6eba46", hex.EncodeToString(got))
}

// checkThroughVerify proves a known answer through the public API whenever
// the vector's parameters are within what a stored hash may carry: the first
// 32 bytes of a PBKDF2 output are the first HMAC block, independent of dkLen.
func checkThroughVerify(t *testing.T, password string, salt []byte, iterations int, dk []byte) bool {
	t.Helper()
	if iterations < MinIterations || len(salt) < MinSaltLen || len(dk) < KeyLen {
		return false
	}
	enc := encode(iterations, salt, dk[:KeyLen])
	require.NoError(t, Verify(enc, password))
	require.ErrorIs(t, Verify(enc, password+"x"), ErrMismatch)
	return true
}

type wycheproofFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		Tests []struct {
			TcID           int      `json:"tcId"`
			Comment        string   `json:"comment"`
			Flags          []string `json:"flags"`
			Password       string   `json:"password"`
			Salt           string   `json:"salt"`
			IterationCount int      `json:"iterationCount"`
			DkLen          int      `json:"dkLen"`
			Dk             string   `json:"dk"`
			Result         string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func TestWycheproof(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(wycheproof.TestVectors, "pbkdf2_hmacsha256_test.json")
	require.NoError(t, err)
	var f wycheproofFile
	require.NoError(t, json.Unmarshal(raw, &f))
	require.Equal(t, "PBKDF2-HMACSHA256", f.Algorithm)

	ran, viaVerify := 0, 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			t.Run(tc.Comment+"/"+strings.Join(tc.Flags, ","), func(t *testing.T) {
				password, err := hex.DecodeString(tc.Password)
				require.NoError(t, err)
				salt, err := hex.DecodeString(tc.Salt)
				require.NoError(t, err)
				got, err := derive(string(password), salt, tc.IterationCount, tc.DkLen)
				switch tc.Result {
				case "valid", "acceptable":
					require.NoError(t, err, "tcId %d", tc.TcID)
					assert.Equal(t, tc.Dk, hex.EncodeToString(got), "tcId %d", tc.TcID)
					if err == nil && checkThroughVerify(t, string(password), salt, tc.IterationCount, got) {
						viaVerify++
					}
				case "invalid":
					if err == nil {
						assert.NotEqual(t, tc.Dk, hex.EncodeToString(got), "tcId %d: invalid vector must not reproduce dk", tc.TcID)
					}
				default:
					t.Fatalf("tcId %d: unknown result %q", tc.TcID, tc.Result)
				}
				ran++
			})
		}
	}
	require.Equal(t, f.NumberOfTests, ran, "every vector in the file ran")
	t.Logf("ran %d Wycheproof vectors (%d also through Verify), none skipped", ran, viaVerify)
	require.Positive(t, viaVerify)
}
