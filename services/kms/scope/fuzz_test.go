package scope_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/scope"
)

// FuzzParse feeds Parse arbitrary scope strings. It must never panic, and
// what it accepts is canonical: joining the tokens with single spaces gives
// back the input exactly (so parse, join, parse is stable), no token is
// empty or holds anything but printable ASCII other than '"' and '\' (RFC
// 6749 §3.3), there are at most MaxScopes, and every kms: token is a
// well-formed KMS scope.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "kms:encrypt", "kms:keys:read kms:encrypt openid", strings.Join(scope.Known(), " "),
		" kms:encrypt", "kms:encrypt ", "kms:encrypt  kms:decrypt", "kms:encrypt\tkms:decrypt", "kms:", "kms::a",
		"kms:a:b:c", "kms:Encrypt", "kms:enc rypt", "openid\u00a0profile", `say"hi"`, `back\slash`, "\x00", "é",
		strings.Repeat("a", 129), strings.Repeat("a ", scope.MaxScopes) + "a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := scope.Parse(s)
		if err != nil {
			require.ErrorIs(t, err, scope.ErrMalformed)
			require.Nil(t, toks)
			return
		}
		require.Equal(t, s, strings.Join(toks, " "), "accepted a non-canonical scope string")
		again, err := scope.Parse(strings.Join(toks, " "))
		require.NoError(t, err)
		require.Equal(t, toks, again)
		require.LessOrEqual(t, len(toks), scope.MaxScopes)
		for _, tok := range toks {
			require.NotEmpty(t, tok)
			require.False(t, strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }),
				"accepted the scope token %q", tok)
			if strings.HasPrefix(tok, "kms:") {
				require.NoError(t, scope.Check(tok))
			}
		}
		// Expanding what Parse accepted is safe too.
		_ = scope.Expand(toks)
		_ = slices.ContainsFunc(toks, func(tok string) bool { return scope.Implies(tok, "kms:encrypt") })
	})
}
