package server

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/certauth"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/kms/realm"
)

// DemoCertRole is the role of the demo client certificates: enough to
// encrypt and decrypt with the demo keys, not to administer them.
const DemoCertRole = "writer"

// demoCertURI is the URI SAN of tenant's demo client certificate: a
// workload identity in the SPIFFE style, naming the tenant and the role.
func demoCertURI(tenantName string) string {
	return "spiffe://passthru.demo/" + tenantName + "/" + DemoCertRole
}

// issueDemoCerts gives every demo tenant a client certificate from the demo
// CA (PEM and PKCS#12 under the PKI directory's clients/), maps it to the
// tenant with DemoCertRole, and lists it in demo.json. It runs only when
// the listener asks for client certificates.
func issueDemoCerts(env *serve.Env, seed *demoSeed) ([]certauth.Rule, error) {
	var rules []certauth.Rule
	for i := range seed.tenants {
		t := &seed.tenants[i]
		uri := demoCertURI(t.Name)
		name := "kms-" + t.Name + "-" + DemoCertRole
		b, err := env.IssueDemoClientCert(name, []string{uri}, nil)
		if err != nil {
			return nil, fmt.Errorf("demo client certificate of %s: %w", t.Name, err)
		}
		t.ClientCerts = append(t.ClientCerts, demofile.ClientCert{
			Name: name, URI: uri, Roles: []string{DemoCertRole},
			CertFile: b.CertFile, KeyFile: b.KeyFile, P12File: b.P12File, P12PasswordFile: b.P12PasswordFile,
		})
		id, err := uuid.Parse(t.ID)
		if err != nil {
			return nil, fmt.Errorf("demo tenant %s: %w", t.Name, err)
		}
		rules = append(rules, certauth.Rule{URI: uri, TenantID: id, Roles: []string{DemoCertRole}})
	}
	return rules, nil
}

// certAuthenticator maps verified client certificates to principals with
// the configured rules (plus the demo's). It needs a listener that asks for
// certificates: rules without one could never match.
func certAuthenticator(env *serve.Env, cfg *Config, roles *realm.Roles, extra []certauth.Rule) (*certauth.Authenticator, error) {
	rules := make([]certauth.Rule, 0, len(cfg.Auth.MTLS)+len(extra))
	for _, r := range cfg.Auth.MTLS {
		id, err := uuid.Parse(r.TenantID)
		if err != nil {
			return nil, fmt.Errorf("auth.mtls: tenant_id: %w", err) // Config.Validate refuses it first
		}
		rules = append(rules, certauth.Rule{URI: r.URI, DNS: r.DNS, TenantID: id, Subject: r.Subject, Roles: r.Roles})
	}
	rules = append(rules, extra...)
	if len(rules) == 0 {
		return nil, nil
	}
	if env.ClientAuth == "" || env.ClientAuth == config.ClientAuthNone {
		return nil, errors.New("auth.mtls: client certificate rules need tls.client_auth optional or required")
	}
	a, err := certauth.New(certauth.Options{Rules: rules, RoleScopes: roles.Scopes, CheckRoles: roles.Check})
	if err != nil {
		return nil, fmt.Errorf("auth.mtls: %w", err)
	}
	return a, nil
}
