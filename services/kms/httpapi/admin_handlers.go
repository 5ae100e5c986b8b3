package httpapi

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/realm"
)

func metadata(m *map[string]any) (json.RawMessage, error) {
	if m == nil {
		return nil, nil
	}
	raw, err := json.Marshal(*m)
	if err != nil {
		return nil, kms.Wrap(err, kms.InvalidRequest, "metadata must be a JSON object")
	}
	return raw, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// auditAdmin records an administration event (realm users, API keys) in
// the admin's tenant. An audit failure is logged; the change itself has happened.
func (h *handlers) auditAdmin(ctx context.Context, op, target string, opErr error) {
	var recorded error
	if opErr != nil {
		recorded = classify(opErr)
	}
	if err := h.opts.Keys.RecordAdminEvent(ctx, principal(ctx).TenantID, op, target, recorded); err != nil {
		h.logger.WarnContext(ctx, "audit of an administration event failed", "operation", op, "error", err)
	}
}

func (h *handlers) CreateRealmUser(ctx context.Context, req api.CreateRealmUserRequestObject) (api.CreateRealmUserResponseObject, error) {
	b := req.Body
	realmName := h.opts.UserRealms[0]
	if b.Realm != nil {
		if !slices.Contains(h.opts.UserRealms, *b.Realm) {
			return nil, kms.New(kms.InvalidRequest, "realm must be one of the database realms %v", h.opts.UserRealms)
		}
		realmName = *b.Realm
	}
	meta, err := metadata(b.Metadata)
	if err != nil {
		return nil, err
	}
	enabled := b.Enabled == nil || *b.Enabled
	u, err := h.opts.Users.Create(ctx, realm.NewUser{
		Realm: realmName, Username: b.Username, Password: b.Password, Roles: b.Roles,
		// The new user always belongs to the administrator's own tenant.
		TenantID: principal(ctx).TenantID, Enabled: enabled, Email: str(b.Email), DisplayName: str(b.DisplayName),
		Metadata: meta,
	})
	if err != nil {
		h.auditAdmin(ctx, "create_realm_user", "", err)
		return nil, err
	}
	h.auditAdmin(ctx, "create_realm_user", u.ID.String(), nil)
	out, err := toUser(u)
	if err != nil {
		return nil, err
	}
	loc := "/api/v1/admin/realm-users/" + u.ID.String()
	return api.CreateRealmUser201JSONResponse{Body: out, Headers: api.CreateRealmUser201ResponseHeaders{Location: &loc}}, nil
}

func (h *handlers) ListRealmUsers(ctx context.Context, req api.ListRealmUsersRequestObject) (api.ListRealmUsersResponseObject, error) {
	pg, err := page(req.Params.PageSize, req.Params.PageToken)
	if err != nil {
		return nil, err
	}
	users, err := h.opts.Users.List(ctx, principal(ctx).TenantID, pg.After, pg.Size+1)
	if err != nil {
		return nil, err
	}
	next := uuid.Nil
	if len(users) > pg.Size {
		users = users[:pg.Size]
		next = users[len(users)-1].ID
	}
	out := api.ListRealmUsers200JSONResponse{Items: make([]api.RealmUser, 0, len(users)), NextPageToken: nextToken(next)}
	for _, u := range users {
		item, err := toUser(u)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

func (h *handlers) GetRealmUser(ctx context.Context, req api.GetRealmUserRequestObject) (api.GetRealmUserResponseObject, error) {
	u, err := h.opts.Users.Get(ctx, principal(ctx).TenantID, req.Uid)
	if err != nil {
		return nil, err
	}
	out, err := toUser(u)
	if err != nil {
		return nil, err
	}
	return api.GetRealmUser200JSONResponse(out), nil
}

func (h *handlers) UpdateRealmUser(ctx context.Context, req api.UpdateRealmUserRequestObject) (api.UpdateRealmUserResponseObject, error) {
	b := req.Body
	patch := realm.UserPatch{Roles: b.Roles, Enabled: b.Enabled, Email: b.Email, DisplayName: b.DisplayName}
	if b.Metadata != nil {
		meta, err := metadata(b.Metadata)
		if err != nil {
			return nil, err
		}
		patch.Metadata = &meta
	}
	u, err := h.opts.Users.Update(ctx, principal(ctx).TenantID, req.Uid, patch)
	h.auditAdmin(ctx, "update_realm_user", req.Uid.String(), err)
	if err != nil {
		return nil, err
	}
	out, err := toUser(u)
	if err != nil {
		return nil, err
	}
	return api.UpdateRealmUser200JSONResponse(out), nil
}

func (h *handlers) DeleteRealmUser(ctx context.Context, req api.DeleteRealmUserRequestObject) (api.DeleteRealmUserResponseObject, error) {
	err := h.opts.Users.Delete(ctx, principal(ctx).TenantID, req.Uid)
	h.auditAdmin(ctx, "delete_realm_user", req.Uid.String(), err)
	if err != nil {
		return nil, err
	}
	return api.DeleteRealmUser204Response{}, nil
}

func (h *handlers) SetRealmUserPassword(ctx context.Context, req api.SetRealmUserPasswordRequestObject) (api.SetRealmUserPasswordResponseObject, error) {
	_, err := h.opts.Users.ChangePassword(ctx, principal(ctx).TenantID, req.Uid, req.Body.Password)
	h.auditAdmin(ctx, "set_realm_user_password", req.Uid.String(), err)
	if err != nil {
		return nil, err
	}
	return api.SetRealmUserPassword204Response{}, nil
}
