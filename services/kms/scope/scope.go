// Package scope is the KMS's set of OAuth-style scopes and the rules by
// which a coarse scope implies finer ones. Handlers require one fine scope
// each; roles and tokens grant whole tiers through the coarse ones.
package scope

import (
	"slices"
	"sort"
)

// KMS scopes. Handlers check fine scopes only; the coarse ones exist so that
// roles and tokens can grant a whole tier with one word: admin over write
// over read, each implying the fine scopes of its tier.
const (
	Admin = "kms:admin"
	Write = "kms:write"
	Read  = "kms:read"

	Encrypt    = "kms:encrypt"
	Decrypt    = "kms:decrypt"
	Sign       = "kms:sign"
	Verify     = "kms:verify"
	MAC        = "kms:mac"
	Generate   = "kms:generate"
	KeysRead   = "kms:keys:read"
	KeysWrite  = "kms:keys:write"
	AuditRead  = "kms:audit:read"
	UsersAdmin = "kms:users:admin"
)

// implied lists what each scope grants directly. The closure is taken by
// Expand, so kms:admin reaches kms:keys:read through kms:write and kms:read.
var implied = map[string][]string{
	Admin: {Write, AuditRead, UsersAdmin},
	Write: {Read, Encrypt, Decrypt, Sign, MAC, Generate, KeysWrite},
	Read:  {KeysRead, Verify},
}

// Known returns every scope this package defines, sorted.
func Known() []string {
	all := []string{
		Admin, Write, Read, Encrypt, Decrypt, Sign, Verify, MAC,
		Generate, KeysRead, KeysWrite, AuditRead, UsersAdmin,
	}
	sort.Strings(all)
	return all
}

// IsKnown reports whether s is one of the scopes of Known.
func IsKnown(s string) bool {
	return slices.Contains(Known(), s)
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
