package bearer

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

// DefaultTenantClaim is the claim a TenantRule reads when it names none.
const DefaultTenantClaim = "tenant_id"

// tenantClaims are the claims a TenantRule may read: the typed string claims
// of authn.Claims that identify who a token is for.
var tenantClaims = []string{"tenant_id", "client_id", "sub"}

// TenantRule maps the tokens of one issuer to tenants.
type TenantRule struct {
	// Issuer is the exact iss the rule applies to.
	Issuer string
	// Claim is read from the token: tenant_id (the default), client_id or sub.
	Claim string
	// Values maps claim values to tenants. Empty: the claim's value is the
	// tenant's UUID itself (canonical 8-4-4-4-12 form).
	Values map[string]uuid.UUID
	// Tenant, when set, maps every token of the issuer to this tenant;
	// Claim and Values are then not used (and Values must be empty).
	Tenant uuid.UUID
	// Priority orders the rules of an issuer, highest first; rules of equal
	// priority apply in the order given.
	Priority int
}

// TenantMapper decides the tenant of a verified token from rules per
// issuer. A nil *TenantMapper, or an issuer without rules, takes the
// tenant_id claim as the tenant's UUID.
type TenantMapper struct {
	rules map[string][]TenantRule
}

// NewTenantMapper validates rules and returns their mapper.
func NewTenantMapper(rules []TenantRule) (*TenantMapper, error) {
	m := &TenantMapper{rules: map[string][]TenantRule{}}
	for i, r := range rules {
		if err := checkHTTPSURL(r.Issuer, true); err != nil {
			return nil, fmt.Errorf("tenant rule %d: Issuer: %w", i, err)
		}
		if r.Claim == "" {
			r.Claim = DefaultTenantClaim
		}
		if !slices.Contains(tenantClaims, r.Claim) {
			return nil, fmt.Errorf("tenant rule %d (%s): Claim: %q is not supported (supported: %v)", i, r.Issuer, r.Claim, tenantClaims)
		}
		if r.Tenant != uuid.Nil && len(r.Values) > 0 {
			return nil, fmt.Errorf("tenant rule %d (%s): Tenant and Values are exclusive", i, r.Issuer)
		}
		for value, t := range r.Values {
			if value == "" {
				return nil, fmt.Errorf("tenant rule %d (%s): Values: empty claim value", i, r.Issuer)
			}
			if t == uuid.Nil {
				return nil, fmt.Errorf("tenant rule %d (%s): Values: %q maps to the nil UUID", i, r.Issuer, value)
			}
		}
		r.Values = maps.Clone(r.Values)
		m.rules[r.Issuer] = append(m.rules[r.Issuer], r)
	}
	for _, rs := range m.rules {
		slices.SortStableFunc(rs, func(a, b TenantRule) int { return cmp.Compare(b.Priority, a.Priority) })
	}
	return m, nil
}

// errNoTenant says no rule gave the token a tenant.
var errNoTenant = errors.New("no tenant for the token")

// Map returns the tenant of a token of issuer with claims c: the result of
// the first matching rule of the issuer, or without rules the tenant_id
// claim as a UUID. When nothing matches the error wraps
// authn.ErrInvalidCredentials.
func (m *TenantMapper) Map(issuer string, c *authn.Claims) (uuid.UUID, error) {
	if c == nil {
		return uuid.Nil, fmt.Errorf("%w: %w: no claims", authn.ErrInvalidCredentials, errNoTenant)
	}
	var rules []TenantRule
	if m != nil {
		rules = m.rules[issuer]
	}
	if len(rules) == 0 {
		if t, ok := parseTenant(c.TenantID); ok {
			return t, nil
		}
		return uuid.Nil, fmt.Errorf("%w: %w: tenant_id is not a tenant UUID", authn.ErrInvalidCredentials, errNoTenant)
	}
	for i := range rules {
		if t, ok := rules[i].apply(c); ok {
			return t, nil
		}
	}
	return uuid.Nil, fmt.Errorf("%w: %w: no rule of the issuer matches", authn.ErrInvalidCredentials, errNoTenant)
}

func (r *TenantRule) apply(c *authn.Claims) (uuid.UUID, bool) {
	if r.Tenant != uuid.Nil {
		return r.Tenant, true
	}
	var value string
	switch r.Claim {
	case "tenant_id":
		value = c.TenantID
	case "client_id":
		value = c.ClientID
	case "sub":
		value = c.Subject
	}
	if value == "" {
		return uuid.Nil, false
	}
	if len(r.Values) > 0 {
		t, ok := r.Values[value]
		return t, ok
	}
	return parseTenant(value)
}

// parseTenant accepts only the canonical 36-character form (either case):
// uuid.Parse would also take urn:uuid:, braces and bare hex, and one tenant
// must have one spelling.
func parseTenant(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.Nil, false
	}
	t, err := uuid.Parse(s)
	if err != nil || t == uuid.Nil {
		return uuid.Nil, false
	}
	return t, true
}
