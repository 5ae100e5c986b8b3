package httpapi

import (
	"context"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/apikey"
)

func toAPIKey(k *kms.APIKey) api.ApiKey {
	out := api.ApiKey{
		Id: k.ID, Name: k.Name, Scopes: k.Scopes, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if k.CreatedBy != "" {
		out.CreatedBy = &k.CreatedBy
	}
	return out
}

func (h *handlers) CreateApiKey(ctx context.Context, req api.CreateApiKeyRequestObject) (api.CreateApiKeyResponseObject, error) {
	b := req.Body
	// The new key always belongs to the creator's own tenant and is never
	// granted more than the creator holds (apikey.Service.Create).
	k, presented, err := h.opts.APIKeys.Create(ctx, principal(ctx), apikey.NewKey{Name: b.Name, Scopes: b.Scopes, ExpiresAt: b.ExpiresAt})
	if err != nil {
		h.auditAdmin(ctx, "create_api_key", "", err)
		return nil, err
	}
	h.auditAdmin(ctx, "create_api_key", k.ID.String(), nil)
	v := toAPIKey(k)
	out := api.CreatedApiKey{
		Id: v.Id, Name: v.Name, Scopes: v.Scopes, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt,
		Key: presented,
	}
	loc := "/api/v1/admin/api-keys/" + k.ID.String()
	return api.CreateApiKey201JSONResponse{Body: out, Headers: api.CreateApiKey201ResponseHeaders{Location: &loc}}, nil
}

func (h *handlers) ListApiKeys(ctx context.Context, req api.ListApiKeysRequestObject) (api.ListApiKeysResponseObject, error) {
	pg, err := page(req.Params.PageSize, req.Params.PageToken)
	if err != nil {
		return nil, err
	}
	keys, next, err := h.opts.APIKeys.List(ctx, principal(ctx).TenantID, pg)
	if err != nil {
		return nil, err
	}
	out := api.ListApiKeys200JSONResponse{Items: make([]api.ApiKey, 0, len(keys)), NextPageToken: nextToken(next)}
	for _, k := range keys {
		out.Items = append(out.Items, toAPIKey(k))
	}
	return out, nil
}

func (h *handlers) GetApiKey(ctx context.Context, req api.GetApiKeyRequestObject) (api.GetApiKeyResponseObject, error) {
	k, err := h.opts.APIKeys.Get(ctx, principal(ctx).TenantID, uuid.UUID(req.ApiKeyId))
	if err != nil {
		return nil, err
	}
	return api.GetApiKey200JSONResponse(toAPIKey(k)), nil
}

func (h *handlers) RevokeApiKey(ctx context.Context, req api.RevokeApiKeyRequestObject) (api.RevokeApiKeyResponseObject, error) {
	_, err := h.opts.APIKeys.Revoke(ctx, principal(ctx).TenantID, uuid.UUID(req.ApiKeyId))
	h.auditAdmin(ctx, "revoke_api_key", req.ApiKeyId.String(), err)
	if err != nil {
		return nil, err
	}
	return api.RevokeApiKey204Response{}, nil
}
