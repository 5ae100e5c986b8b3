package httpapi

import (
	"net/http"

	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
)

func (h *handlers) CreateElasticKey(w http.ResponseWriter, r *http.Request) {
	var req api.CreateElasticKeyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	nk := kms.NewKey{Name: req.Name, Algorithm: string(req.Algorithm), VersioningAllowed: true}
	if req.Description != nil {
		nk.Description = *req.Description
	}
	if req.VersioningAllowed != nil {
		nk.VersioningAllowed = *req.VersioningAllowed
	}
	k, err := h.opts.Keys.CreateKey(r.Context(), principal(r).TenantID, nk)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/elastic-keys/"+k.ID.String())
	httpx.WriteJSON(w, http.StatusCreated, toKey(k))
}

func (h *handlers) ListElasticKeys(w http.ResponseWriter, r *http.Request, params api.ListElasticKeysParams) {
	pg, err := page(params.PageSize, params.PageToken)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var f kms.KeyFilter
	if params.Algorithm != nil {
		f.Algorithm = string(*params.Algorithm)
	}
	if params.Purpose != nil {
		f.Purpose = string(*params.Purpose)
	}
	if params.Status != nil {
		f.Status = kms.Status(*params.Status)
	}
	if params.NamePrefix != nil {
		f.NamePrefix = *params.NamePrefix
	}
	list, next, err := h.opts.Keys.ListKeys(r.Context(), principal(r).TenantID, f, pg)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.ElasticKeyList{Items: make([]api.ElasticKey, 0, len(list)), NextPageToken: nextToken(next)}
	for _, k := range list {
		out.Items = append(out.Items, toKey(k))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) GetElasticKey(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	k, err := h.opts.Keys.GetKey(r.Context(), principal(r).TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toKey(k))
}

func (h *handlers) UpdateElasticKey(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.UpdateElasticKeyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p := kms.KeyPatch{Description: req.Description}
	if req.Status != nil {
		s := kms.Status(*req.Status)
		p.Status = &s
	}
	k, err := h.opts.Keys.UpdateKey(r.Context(), principal(r).TenantID, id, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toKey(k))
}

func (h *handlers) DestroyElasticKey(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	k, err := h.opts.Keys.DestroyKey(r.Context(), principal(r).TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toKey(k))
}

func (h *handlers) RotateElasticKey(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	m, err := h.opts.Keys.Rotate(r.Context(), principal(r).TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := toVersion(m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/elastic-keys/"+id.String()+"/material-keys/"+m.ID.String())
	httpx.WriteJSON(w, http.StatusCreated, out)
}

func (h *handlers) ListMaterialKeys(w http.ResponseWriter, r *http.Request, id api.KeyID, params api.ListMaterialKeysParams) {
	pg, err := page(params.PageSize, params.PageToken)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, next, err := h.opts.Keys.ListVersions(r.Context(), principal(r).TenantID, id, pg)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.MaterialKeyList{Items: make([]api.MaterialKey, 0, len(list)), NextPageToken: nextToken(next)}
	for _, m := range list {
		v, err := toVersion(m)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out.Items = append(out.Items, v)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) GetMaterialKey(w http.ResponseWriter, r *http.Request, id api.KeyID, mid api.MaterialKeyID) {
	m, err := h.opts.Keys.GetVersion(r.Context(), principal(r).TenantID, id, mid)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := toVersion(m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) UpdateMaterialKey(w http.ResponseWriter, r *http.Request, id api.KeyID, mid api.MaterialKeyID) {
	var req api.UpdateMaterialKeyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.opts.Keys.SetVersionStatus(r.Context(), principal(r).TenantID, id, mid, kms.Status(req.Status))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := toVersion(m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) ListAuditEvents(w http.ResponseWriter, r *http.Request, params api.ListAuditEventsParams) {
	pg, err := page(params.PageSize, params.PageToken)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	events, next, err := h.opts.Keys.ListAudit(r.Context(), principal(r).TenantID, params.ElasticKeyId, pg)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.AuditEventList{Items: make([]api.AuditEvent, 0, len(events)), NextPageToken: nextToken(next)}
	for _, e := range events {
		out.Items = append(out.Items, toEvent(e))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
