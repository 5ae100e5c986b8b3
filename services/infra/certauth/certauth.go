// Package certauth authenticates requests by their mTLS client certificate:
// an authn.Authenticator that maps the certificate the TLS listener verified
// to a principal through a fixed list of rules, each naming one URI or DNS
// SAN and the tenant, subject and roles it stands for.
//
// The certificate is trusted because the listener verified it against the
// configured client CA (tls.client_auth optional or required); this package
// only reads r.TLS.VerifiedChains and never looks at unverified peer
// certificates. Which certificate stands for whom is configuration, never
// the certificate's own say: a tenant id inside a certificate is ignored.
//
// Outcomes, in the terms of authn.Authenticator:
//   - no verified client certificate (none was sent, the listener does not
//     ask for one, or the connection is not TLS): ErrNoCredentials, so the
//     next authenticator (Basic, bearer) is tried. This is what makes
//     client_auth optional useful.
//   - a verified certificate matching a rule: the rule's principal.
//   - a verified certificate matching no rule: ErrInvalidCredentials. A
//     client that presented a certificate chose to be known by it; falling
//     back to another credential on the same request would let a client of
//     the CA probe which of its identities the service knows, and would hide
//     a missing rule behind a confusing later failure. The request is
//     refused with 401.
package certauth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Rule maps a client certificate to a principal. Exactly one of URI and DNS
// is set; it must equal one of the certificate's SANs of that kind (a URI in
// canonical form, see tlsx.ParseURISAN; a DNS name compared without regard
// to case, as DNS names are).
type Rule struct {
	URI      string    `yaml:"uri"`
	DNS      string    `yaml:"dns"`
	TenantID uuid.UUID `yaml:"tenant_id"`
	// Subject is the principal's subject; empty means the matched SAN.
	Subject string `yaml:"subject"`
	// Roles are granted to the principal; Options.RoleScopes turns them
	// into scopes.
	Roles []string `yaml:"roles"`
}

// Options configures New.
type Options struct {
	// Rules are tried in order, URI rules before DNS rules: a certificate
	// whose URI SAN matches a rule gets that rule even when one of its DNS
	// SANs matches another. Two rules may not name the same SAN.
	Rules []Rule
	// RoleScopes maps roles to the scopes they grant (the KMS passes its
	// role table's Scopes). Required when a rule grants roles.
	RoleScopes func(roles []string) []string
	// Scopes expands role-granted scopes under the service's implication
	// rules (the KMS passes scope.Expand); nil keeps them as they are.
	Scopes func(scopes []string) []string
	// CheckRoles, when set, refuses unknown role names at New, so a typo
	// in a rule fails the start instead of granting nothing.
	CheckRoles func(roles []string) error
}

// ErrInvalidRule is wrapped by every rule validation error of New.
var ErrInvalidRule = errors.New("invalid client certificate rule")

// maxSubjectLen bounds a configured subject like a SAN.
const maxSubjectLen = 255

// Authenticator is the mTLS client certificate authenticator. It is
// immutable after New and safe for concurrent use.
type Authenticator struct {
	byURI map[string]int // canonical URI SAN -> index into rules
	byDNS map[string]int // lower-case DNS SAN -> index into rules
	rules []compiled
}

// compiled is a rule with its principal's fields worked out once, so a
// request costs map lookups only.
type compiled struct {
	san      string
	subject  string
	tenantID uuid.UUID
	roles    []string
	scopes   []string
}

// New validates opts and returns the authenticator. Every problem is
// reported at once; errors name the rule by its position (rules[0]) and the
// key (uri, dns, tenant_id, subject, roles), and wrap ErrInvalidRule.
func New(opts Options) (*Authenticator, error) {
	a := &Authenticator{byURI: map[string]int{}, byDNS: map[string]int{}, rules: make([]compiled, 0, len(opts.Rules))}
	var errs []error
	for i, r := range opts.Rules {
		c, err := a.compile(i, r, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.rules = append(a.rules, c)
		if r.URI != "" {
			a.byURI[c.san] = len(a.rules) - 1
		} else {
			a.byDNS[c.san] = len(a.rules) - 1
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

func (a *Authenticator) compile(i int, r Rule, opts Options) (compiled, error) {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: rules[%d].%s: %s", ErrInvalidRule, i, key, fmt.Sprintf(format, args...)))
	}
	var san string
	switch {
	case r.URI != "" && r.DNS != "":
		fail("uri", "set exactly one of uri and dns, not both")
	case r.URI != "":
		if u, err := tlsx.ParseURISAN(r.URI); err != nil {
			fail("uri", "%v", err)
		} else if san = u.String(); mapped(a.byURI, san) {
			fail("uri", "%q is already mapped by an earlier rule", san)
		}
	case r.DNS != "":
		if err := tlsx.ValidateDNSName(r.DNS); err != nil {
			fail("dns", "%v", err)
		} else if san = strings.ToLower(r.DNS); mapped(a.byDNS, san) {
			fail("dns", "%q is already mapped by an earlier rule", san)
		}
	default:
		fail("uri", "set exactly one of uri and dns")
	}
	if r.TenantID == uuid.Nil {
		fail("tenant_id", "required (the tenant the certificate acts for)")
	}
	if r.Subject != "" {
		if err := checkSubject(r.Subject); err != nil {
			fail("subject", "%v", err)
		}
	}
	for k, role := range r.Roles {
		if role == "" {
			fail("roles", "entry %d is empty", k)
		}
	}
	if len(r.Roles) > 0 {
		switch {
		case opts.RoleScopes == nil:
			fail("roles", "granted, but no role-to-scope mapping was configured")
		case opts.CheckRoles != nil:
			if err := opts.CheckRoles(r.Roles); err != nil {
				fail("roles", "%v", err)
			}
		}
	}
	if len(errs) > 0 {
		return compiled{}, errors.Join(errs...)
	}
	c := compiled{san: san, subject: r.Subject, tenantID: r.TenantID, roles: slices.Clone(r.Roles)}
	if c.subject == "" {
		c.subject = san
	}
	if len(r.Roles) > 0 {
		c.scopes = opts.RoleScopes(slices.Clone(r.Roles))
		if opts.Scopes != nil {
			c.scopes = opts.Scopes(c.scopes)
		}
		c.scopes = slices.Clone(c.scopes) // nothing outside keeps a handle on it
	}
	return c, nil
}

// mapped reports whether an earlier rule maps san. Rules that failed
// validation never enter the maps, so only valid rules count.
func mapped(m map[string]int, san string) bool {
	_, ok := m[san]
	return ok
}

// checkSubject keeps configured subjects to printable text: they end up in
// logs and audit records.
func checkSubject(s string) error {
	if strings.TrimSpace(s) != s {
		return errors.New("leading or trailing spaces")
	}
	if len(s) > maxSubjectLen {
		return fmt.Errorf("%d bytes, the limit is %d", len(s), maxSubjectLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%q contains a control or non-printable character", s)
		}
	}
	return nil
}

// Authenticate implements authn.Authenticator (see the package comment for
// the outcomes).
func (a *Authenticator) Authenticate(r *http.Request) (*authn.Principal, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, fmt.Errorf("client certificate: %w", authn.ErrNoCredentials)
	}
	leaf := r.TLS.VerifiedChains[0][0]
	best := -1
	for _, u := range leaf.URIs {
		if i, ok := a.byURI[u.String()]; ok && (best < 0 || i < best) {
			best = i
		}
	}
	if best < 0 {
		for _, d := range leaf.DNSNames {
			if i, ok := a.byDNS[strings.ToLower(d)]; ok && (best < 0 || i < best) {
				best = i
			}
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("client certificate maps to no rule: %w", authn.ErrInvalidCredentials)
	}
	c := a.rules[best]
	return &authn.Principal{
		Subject:  c.subject,
		TenantID: c.tenantID,
		Roles:    slices.Clone(c.roles),
		Scopes:   slices.Clone(c.scopes),
		Method:   authn.MethodMTLS,
		ClientID: c.san,
	}, nil
}

// Challenge returns "": TLS client authentication has no WWW-Authenticate
// scheme (the certificate is asked for in the handshake), and
// authn.SetChallenges skips empty challenges.
func (a *Authenticator) Challenge() string { return "" }

// Compile-time check that Authenticator satisfies authn.Authenticator.
var _ authn.Authenticator = (*Authenticator)(nil)
