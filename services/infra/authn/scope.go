package authn

import (
	"slices"
	"sort"
)

// KMS scopes. Handlers check fine scopes only; the coarse ones exist so that
// roles and tokens can grant a whole tier with one word (DESIGN.md §4).
const (
	ScopeAdmin = "kms:admin"
	ScopeWrite = "kms:write"
	ScopeRead  = "kms:read"

	ScopeEncrypt    = "kms:encrypt"
	ScopeDecrypt    = "kms:decrypt"
	ScopeSign       = "kms:sign"
	ScopeVerify     = "kms:verify"
	ScopeMAC        = "kms:mac"
	ScopeGenerate   = "kms:generate"
	ScopeKeysRead   = "kms:keys:read"
	ScopeKeysWrite  = "kms:keys:write"
	ScopeAuditRead  = "kms:audit:read"
	ScopeUsersAdmin = "kms:users:admin"
)

// implied lists what each scope grants directly. The closure is taken by
// Expand, so kms:admin reaches kms:keys:read through kms:write and kms:read.
var implied = map[string][]string{
	ScopeAdmin: {ScopeWrite, ScopeAuditRead, ScopeUsersAdmin},
	ScopeWrite: {ScopeRead, ScopeEncrypt, ScopeDecrypt, ScopeSign, ScopeMAC, ScopeGenerate, ScopeKeysWrite},
	ScopeRead:  {ScopeKeysRead, ScopeVerify},
}

// KnownScopes returns every scope this package defines, sorted.
func KnownScopes() []string {
	all := []string{
		ScopeAdmin, ScopeWrite, ScopeRead, ScopeEncrypt, ScopeDecrypt, ScopeSign, ScopeVerify, ScopeMAC,
		ScopeGenerate, ScopeKeysRead, ScopeKeysWrite, ScopeAuditRead, ScopeUsersAdmin,
	}
	sort.Strings(all)
	return all
}

// IsKnownScope reports whether s is one of the scopes of KnownScopes.
func IsKnownScope(s string) bool {
	return slices.Contains(KnownScopes(), s)
}

// Expand returns the sorted, de-duplicated closure of granted under the
// implication table. Unknown scopes are kept as they are: a token may carry
// scopes meant for other services, and they simply imply nothing here.
func Expand(granted []string) []string {
	seen := map[string]bool{}
	var walk func(s string)
	walk = func(s string) {
		if seen[s] {
			return
		}
		seen[s] = true
		for _, next := range implied[s] {
			walk(next)
		}
	}
	for _, s := range granted {
		walk(s)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Implies reports whether holding granted gives required.
func Implies(granted, required string) bool {
	return slices.Contains(Expand([]string{granted}), required)
}
