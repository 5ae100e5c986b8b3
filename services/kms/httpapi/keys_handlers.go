package httpapi

import (
	"context"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
)

func (h *handlers) CreateElasticKey(ctx context.Context, req api.CreateElasticKeyRequestObject) (api.CreateElasticKeyResponseObject, error) {
	b := req.Body
	nk := kms.NewKey{Name: b.Name, Algorithm: string(b.Algorithm), VersioningAllowed: true}
	if b.Description != nil {
		nk.Description = *b.Description
	}
	if b.VersioningAllowed != nil {
		nk.VersioningAllowed = *b.VersioningAllowed
	}
	k, err := h.opts.Keys.CreateKey(ctx, principal(ctx).TenantID, nk)
	if err != nil {
		return nil, err
	}
	loc := "/api/v1/elastic-keys/" + k.ID.String()
	return api.CreateElasticKey201JSONResponse{Body: toKey(k), Headers: api.CreateElasticKey201ResponseHeaders{Location: &loc}}, nil
}

func (h *handlers) ListElasticKeys(ctx context.Context, req api.ListElasticKeysRequestObject) (api.ListElasticKeysResponseObject, error) {
	params := req.Params
	pg, err := page(params.PageSize, params.PageToken)
	if err != nil {
		return nil, err
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
	list, next, err := h.opts.Keys.ListKeys(ctx, principal(ctx).TenantID, f, pg)
	if err != nil {
		return nil, err
	}
	out := api.ListElasticKeys200JSONResponse{Items: make([]api.ElasticKey, 0, len(list)), NextPageToken: nextToken(next)}
	for _, k := range list {
		out.Items = append(out.Items, toKey(k))
	}
	return out, nil
}

func (h *handlers) GetElasticKey(ctx context.Context, req api.GetElasticKeyRequestObject) (api.GetElasticKeyResponseObject, error) {
	k, err := h.opts.Keys.GetKey(ctx, principal(ctx).TenantID, req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetElasticKey200JSONResponse(toKey(k)), nil
}

func (h *handlers) UpdateElasticKey(ctx context.Context, req api.UpdateElasticKeyRequestObject) (api.UpdateElasticKeyResponseObject, error) {
	p := kms.KeyPatch{Description: req.Body.Description}
	if req.Body.Status != nil {
		s := kms.Status(*req.Body.Status)
		p.Status = &s
	}
	k, err := h.opts.Keys.UpdateKey(ctx, principal(ctx).TenantID, req.Id, p)
	if err != nil {
		return nil, err
	}
	return api.UpdateElasticKey200JSONResponse(toKey(k)), nil
}

func (h *handlers) DestroyElasticKey(ctx context.Context, req api.DestroyElasticKeyRequestObject) (api.DestroyElasticKeyResponseObject, error) {
	k, err := h.opts.Keys.DestroyKey(ctx, principal(ctx).TenantID, req.Id)
	if err != nil {
		return nil, err
	}
	return api.DestroyElasticKey200JSONResponse(toKey(k)), nil
}

func (h *handlers) RotateElasticKey(ctx context.Context, req api.RotateElasticKeyRequestObject) (api.RotateElasticKeyResponseObject, error) {
	m, err := h.opts.Keys.Rotate(ctx, principal(ctx).TenantID, req.Id)
	if err != nil {
		return nil, err
	}
	out, err := toVersion(m)
	if err != nil {
		return nil, err
	}
	loc := "/api/v1/elastic-keys/" + req.Id.String() + "/material-keys/" + m.ID.String()
	return api.RotateElasticKey201JSONResponse{Body: out, Headers: api.RotateElasticKey201ResponseHeaders{Location: &loc}}, nil
}

func (h *handlers) ListMaterialKeys(ctx context.Context, req api.ListMaterialKeysRequestObject) (api.ListMaterialKeysResponseObject, error) {
	pg, err := page(req.Params.PageSize, req.Params.PageToken)
	if err != nil {
		return nil, err
	}
	list, next, err := h.opts.Keys.ListVersions(ctx, principal(ctx).TenantID, req.Id, pg)
	if err != nil {
		return nil, err
	}
	out := api.ListMaterialKeys200JSONResponse{Items: make([]api.MaterialKey, 0, len(list)), NextPageToken: nextToken(next)}
	for _, m := range list {
		v, err := toVersion(m)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, v)
	}
	return out, nil
}

func (h *handlers) GetMaterialKey(ctx context.Context, req api.GetMaterialKeyRequestObject) (api.GetMaterialKeyResponseObject, error) {
	m, err := h.opts.Keys.GetVersion(ctx, principal(ctx).TenantID, req.Id, req.Mid)
	if err != nil {
		return nil, err
	}
	out, err := toVersion(m)
	if err != nil {
		return nil, err
	}
	return api.GetMaterialKey200JSONResponse(out), nil
}

func (h *handlers) UpdateMaterialKey(ctx context.Context, req api.UpdateMaterialKeyRequestObject) (api.UpdateMaterialKeyResponseObject, error) {
	m, err := h.opts.Keys.SetVersionStatus(ctx, principal(ctx).TenantID, req.Id, req.Mid, kms.Status(req.Body.Status))
	if err != nil {
		return nil, err
	}
	out, err := toVersion(m)
	if err != nil {
		return nil, err
	}
	return api.UpdateMaterialKey200JSONResponse(out), nil
}

func (h *handlers) ListAuditEvents(ctx context.Context, req api.ListAuditEventsRequestObject) (api.ListAuditEventsResponseObject, error) {
	pg, err := page(req.Params.PageSize, req.Params.PageToken)
	if err != nil {
		return nil, err
	}
	events, next, err := h.opts.Keys.ListAudit(ctx, principal(ctx).TenantID, req.Params.ElasticKeyId, pg)
	if err != nil {
		return nil, err
	}
	out := api.ListAuditEvents200JSONResponse{Items: make([]api.AuditEvent, 0, len(events)), NextPageToken: nextToken(next)}
	for _, e := range events {
		out.Items = append(out.Items, toEvent(e))
	}
	return out, nil
}
