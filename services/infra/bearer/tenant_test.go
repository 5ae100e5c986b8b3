package bearer

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

func TestTenantMapperMap(t *testing.T) {
	const issA, issB = "https://a.example", "https://b.example"
	tenant1 := uuid.MustParse("11111111-1111-4111-8111-111111111111")
	tenant2 := uuid.MustParse("22222222-2222-4222-8222-222222222222")
	tenant3 := uuid.MustParse("33333333-3333-4333-8333-333333333333")
	claims := func(tenantID, clientID, sub string) *authn.Claims {
		return &authn.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, TenantID: tenantID, ClientID: clientID}
	}
	mapper, err := NewTenantMapper([]TenantRule{
		// Issuer A: a fixed client goes to tenant 3 first; else values of
		// tenant_id; else tenant_id as a UUID.
		{Issuer: issA, Claim: "tenant_id", Priority: 0},
		{Issuer: issA, Values: map[string]uuid.UUID{"acme": tenant1, "globex": tenant2}},
		{Issuer: issA, Claim: "client_id", Values: map[string]uuid.UUID{"ops-client": tenant3}, Priority: 10},
		// Issuer B: everything is tenant 2.
		{Issuer: issB, Tenant: tenant2},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc    string
		mapper  *TenantMapper
		issuer  string
		claims  *authn.Claims
		want    uuid.UUID
		wantErr bool
	}{
		{"higher priority rule wins", mapper, issA, claims("acme", "ops-client", "x"), tenant3, false},
		{"equal priority: order given (UUID rule first, no match, then values)", mapper, issA, claims("acme", "c", "x"), tenant1, false},
		{"value mapping", mapper, issA, claims("globex", "c", "x"), tenant2, false},
		{"UUID claim", mapper, issA, claims(tenant1.String(), "c", "x"), tenant1, false},
		{"UUID claim in upper case", mapper, issA, claims(strings.ToUpper(tenant2.String()), "c", "x"), tenant2, false},
		{"unknown value, not a UUID", mapper, issA, claims("initech", "c", "x"), uuid.Nil, true},
		{"non-canonical UUID (urn form)", mapper, issA, claims("urn:uuid:"+tenant1.String(), "c", "x"), uuid.Nil, true},
		{"non-canonical UUID (no hyphens)", mapper, issA, claims(strings.ReplaceAll(tenant1.String(), "-", ""), "c", "x"), uuid.Nil, true},
		{"nil UUID", mapper, issA, claims(uuid.Nil.String(), "c", "x"), uuid.Nil, true},
		{"whole issuer to one tenant", mapper, issB, claims("", "", "x"), tenant2, false},
		{"issuer without rules: tenant_id UUID", mapper, "https://c.example", claims(tenant1.String(), "c", "x"), tenant1, false},
		{"issuer without rules: tenant_id not a UUID", mapper, "https://c.example", claims("acme", "c", "x"), uuid.Nil, true},
		{"nil mapper: tenant_id UUID", nil, issA, claims(tenant3.String(), "", ""), tenant3, false},
		{"nil mapper: missing tenant_id", nil, issA, claims("", "", ""), uuid.Nil, true},
		{"nil claims", mapper, issA, nil, uuid.Nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := tc.mapper.Map(tc.issuer, tc.claims)
			if tc.wantErr {
				if !errors.Is(err, authn.ErrInvalidCredentials) {
					t.Fatalf("Map = %v, %v; want invalid credentials", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Map = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestTenantRuleBySubject(t *testing.T) {
	tenant := uuid.New()
	m, err := NewTenantMapper([]TenantRule{{Issuer: "https://a.example", Claim: "sub", Values: map[string]uuid.UUID{"svc-1": tenant}}})
	if err != nil {
		t.Fatal(err)
	}
	c := &authn.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "svc-1"}, TenantID: uuid.NewString()}
	if got, err := m.Map("https://a.example", c); err != nil || got != tenant {
		t.Fatalf("Map = %v, %v; want %v (the rule, not tenant_id)", got, err, tenant)
	}
	c.Subject = "svc-2"
	if _, err := m.Map("https://a.example", c); !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Fatalf("unmatched subject: err = %v", err)
	}
}

func TestNewTenantMapperRefusesBadRules(t *testing.T) {
	tenant := uuid.New()
	cases := []struct {
		desc    string
		rule    TenantRule
		wantErr string
	}{
		{"no issuer", TenantRule{Tenant: tenant}, "Issuer"},
		{"http issuer", TenantRule{Issuer: "http://a.example", Tenant: tenant}, "Issuer"},
		{"unsupported claim", TenantRule{Issuer: "https://a.example", Claim: "email"}, "Claim"},
		{"tenant and values", TenantRule{Issuer: "https://a.example", Tenant: tenant, Values: map[string]uuid.UUID{"a": tenant}}, "exclusive"},
		{"empty value", TenantRule{Issuer: "https://a.example", Values: map[string]uuid.UUID{"": tenant}}, "empty claim value"},
		{"nil tenant value", TenantRule{Issuer: "https://a.example", Values: map[string]uuid.UUID{"a": uuid.Nil}}, "nil UUID"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewTenantMapper([]TenantRule{tc.rule})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestTenantMapperCopiesValues(t *testing.T) {
	tenant := uuid.New()
	values := map[string]uuid.UUID{"acme": tenant}
	m, err := NewTenantMapper([]TenantRule{{Issuer: "https://a.example", Values: values}})
	if err != nil {
		t.Fatal(err)
	}
	values["acme"] = uuid.New() // the caller's map changes afterwards
	if got, err := m.Map("https://a.example", &authn.Claims{TenantID: "acme"}); err != nil || got != tenant {
		t.Fatalf("Map = %v, %v; want %v", got, err, tenant)
	}
}

func TestTenantRulesOfEqualPriorityApplyInOrder(t *testing.T) {
	t1, t2 := uuid.New(), uuid.New()
	r1 := TenantRule{Issuer: "https://a.example", Values: map[string]uuid.UUID{"x": t1}, Priority: 5}
	r2 := TenantRule{Issuer: "https://a.example", Values: map[string]uuid.UUID{"x": t2}, Priority: 5}
	low := TenantRule{Issuer: "https://a.example", Tenant: uuid.New(), Priority: -1}
	cases := []struct {
		desc  string
		rules []TenantRule
		want  uuid.UUID
	}{
		{"first given wins", []TenantRule{low, r1, r2}, t1},
		{"reversed", []TenantRule{r2, low, r1}, t2},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			m, err := NewTenantMapper(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := m.Map("https://a.example", &authn.Claims{TenantID: "x"}); err != nil || got != tc.want {
				t.Fatalf("Map = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
