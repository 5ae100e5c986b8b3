package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/httpx"
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

// auditUser records a user administration event in the admin's tenant.
// An audit failure is logged; the change itself has happened.
func (h *handlers) auditUser(r *http.Request, op, target string, opErr error) {
	var recorded error
	if opErr != nil {
		recorded = classify(opErr)
	}
	if err := h.opts.Keys.RecordUserEvent(r.Context(), principal(r).TenantID, op, target, recorded); err != nil {
		h.logger.WarnContext(r.Context(), "audit of a user administration event failed", "operation", op, "error", err)
	}
}

func (h *handlers) writeUser(w http.ResponseWriter, r *http.Request, status int, u *realm.User) {
	out, err := toUser(u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, status, out)
}

func (h *handlers) CreateRealmUser(w http.ResponseWriter, r *http.Request) {
	var req api.CreateRealmUserRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	realmName := h.opts.UserRealms[0]
	if req.Realm != nil {
		if !slices.Contains(h.opts.UserRealms, *req.Realm) {
			h.fail(w, r, kms.New(kms.InvalidRequest, "realm must be one of the database realms %v", h.opts.UserRealms))
			return
		}
		realmName = *req.Realm
	}
	meta, err := metadata(req.Metadata)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	enabled := req.Enabled == nil || *req.Enabled
	u, err := h.opts.Users.Create(r.Context(), realm.NewUser{
		Realm: realmName, Username: req.Username, Password: req.Password, Roles: req.Roles,
		// The new user always belongs to the administrator's own tenant.
		TenantID: principal(r).TenantID, Enabled: enabled, Email: str(req.Email), DisplayName: str(req.DisplayName),
		Metadata: meta,
	})
	if err != nil {
		h.auditUser(r, "create_realm_user", "", err)
		h.fail(w, r, err)
		return
	}
	h.auditUser(r, "create_realm_user", u.ID.String(), nil)
	w.Header().Set("Location", "/api/v1/admin/realm-users/"+u.ID.String())
	h.writeUser(w, r, http.StatusCreated, u)
}

func (h *handlers) ListRealmUsers(w http.ResponseWriter, r *http.Request, params api.ListRealmUsersParams) {
	pg, err := page(params.PageSize, params.PageToken)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	users, err := h.opts.Users.List(r.Context(), principal(r).TenantID, pg.After, pg.Size+1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	next := uuid.Nil
	if len(users) > pg.Size {
		users = users[:pg.Size]
		next = users[len(users)-1].ID
	}
	out := api.RealmUserList{Items: make([]api.RealmUser, 0, len(users)), NextPageToken: nextToken(next)}
	for _, u := range users {
		item, err := toUser(u)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out.Items = append(out.Items, item)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) GetRealmUser(w http.ResponseWriter, r *http.Request, uid api.UserID) {
	u, err := h.opts.Users.Get(r.Context(), principal(r).TenantID, uid)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeUser(w, r, http.StatusOK, u)
}

func (h *handlers) UpdateRealmUser(w http.ResponseWriter, r *http.Request, uid api.UserID) {
	var req api.UpdateRealmUserRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	patch := realm.UserPatch{Roles: req.Roles, Enabled: req.Enabled, Email: req.Email, DisplayName: req.DisplayName}
	if req.Metadata != nil {
		meta, err := metadata(req.Metadata)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		patch.Metadata = &meta
	}
	u, err := h.opts.Users.Update(r.Context(), principal(r).TenantID, uid, patch)
	h.auditUser(r, "update_realm_user", uid.String(), err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeUser(w, r, http.StatusOK, u)
}

func (h *handlers) DeleteRealmUser(w http.ResponseWriter, r *http.Request, uid api.UserID) {
	err := h.opts.Users.Delete(r.Context(), principal(r).TenantID, uid)
	h.auditUser(r, "delete_realm_user", uid.String(), err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handlers) SetRealmUserPassword(w http.ResponseWriter, r *http.Request, uid api.UserID) {
	var req api.SetPasswordRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	_, err := h.opts.Users.ChangePassword(r.Context(), principal(r).TenantID, uid, req.Password)
	h.auditUser(r, "set_realm_user_password", uid.String(), err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
