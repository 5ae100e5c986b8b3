package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/realm"
)

const (
	defaultPageSize = 50
	maxPageSize     = 200
	pageTokenPrefix = "p1:"
)

// page turns page_size/page_token into a kms.Page. Tokens are opaque to
// clients: base64url of a version tag and the last id of the previous page.
func page(size *int, token *string) (kms.Page, error) {
	p := kms.Page{Size: defaultPageSize}
	if size != nil {
		if *size < 1 || *size > maxPageSize {
			return p, kms.New(kms.InvalidRequest, "page_size must be 1..%d", maxPageSize)
		}
		p.Size = *size
	}
	if token != nil && *token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*token)
		rest, ok := strings.CutPrefix(string(raw), pageTokenPrefix)
		if err != nil || !ok {
			return p, kms.New(kms.InvalidRequest, "invalid page_token")
		}
		// Every listed item (key, version, audit event, user) has a UUIDv7 id.
		id, err := ids.ParseEntity(rest)
		if err != nil {
			return p, kms.New(kms.InvalidRequest, "invalid page_token")
		}
		p.After = id
	}
	return p, nil
}

func nextToken(after uuid.UUID) string {
	if after == uuid.Nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + after.String()))
}

// principal is the caller the gate authenticated; every API operation runs
// behind the gate, so it is never nil there.
func principal(ctx context.Context) *authn.Principal {
	p, _ := authn.PrincipalFrom(ctx)
	return p
}

func toKey(k *kms.ElasticKey) api.ElasticKey {
	return api.ElasticKey{
		Id: k.ID, Name: k.Name, Description: k.Description, Algorithm: api.Algorithm(k.Algorithm),
		Purpose: api.Purpose(k.Purpose), Status: api.KeyStatus(k.Status), VersioningAllowed: k.VersioningAllowed,
		PrimaryVersion: k.PrimaryVersion, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt,
	}
}

func toVersion(m *kms.MaterialKey) (api.MaterialKey, error) {
	out := api.MaterialKey{
		Id: m.ID, ElasticKeyId: m.ElasticKeyID, Version: m.Version, Kid: m.Kid(), Status: api.KeyStatus(m.Status),
		Primary: m.Primary, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}
	if len(m.PublicJWK) > 0 {
		var jwk api.JWK
		if err := json.Unmarshal(m.PublicJWK, &jwk); err != nil {
			return out, kms.Wrap(err, kms.Internal, "stored public key is unreadable")
		}
		out.PublicJwk = &jwk
	}
	return out, nil
}

func toEvent(e *kms.AuditEvent) api.AuditEvent {
	out := api.AuditEvent{
		Id: e.ID, Time: e.Time, Principal: e.Principal, TenantId: e.TenantID, Operation: e.Operation,
		Outcome: api.AuditEventOutcome(e.Outcome),
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out.Realm, out.Method, out.ElasticKeyId = opt(e.Realm), opt(e.Method), opt(e.ElasticKeyID)
	out.MaterialKeyId, out.ErrorCode, out.RequestId = opt(e.MaterialKeyID), opt(e.ErrorCode), opt(e.RequestID)
	out.Target, out.ClientId = opt(e.Target), opt(e.ClientID)
	return out
}

func toUser(u *realm.User) (api.RealmUser, error) {
	out := api.RealmUser{
		Id: u.ID, Realm: u.Realm, Username: u.Username, Roles: u.Roles, TenantId: u.TenantID, Enabled: u.Enabled,
		Email: u.Email, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	if len(u.Metadata) > 0 {
		var m map[string]any
		if err := json.Unmarshal(u.Metadata, &m); err != nil {
			return out, kms.Wrap(err, kms.Internal, "stored metadata is unreadable")
		}
		out.Metadata = &m
	}
	return out, nil
}
