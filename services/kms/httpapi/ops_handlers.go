package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

func optBytes(p *[]byte) []byte {
	if p == nil {
		return nil
	}
	return *p
}

func (h *handlers) Encrypt(ctx context.Context, req api.EncryptRequestObject) (api.EncryptResponseObject, error) {
	jwe, kid, err := h.opts.Keys.Encrypt(ctx, principal(ctx).TenantID, req.Id, req.Body.Plaintext, optBytes(req.Body.Context))
	if err != nil {
		return nil, err
	}
	return api.Encrypt200JSONResponse{Ciphertext: jwe, Kid: kid}, nil
}

// decryptOK and dataKeyOK carry key material or plaintext: no cache may
// keep them, which the spec's response types cannot say.
type decryptOK api.Decrypt200JSONResponse

func (r decryptOK) VisitDecryptResponse(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	return api.Decrypt200JSONResponse(r).VisitDecryptResponse(w)
}

type dataKeyOK api.GenerateDataKey200JSONResponse

func (r dataKeyOK) VisitGenerateDataKeyResponse(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	return api.GenerateDataKey200JSONResponse(r).VisitGenerateDataKeyResponse(w)
}

func (h *handlers) Decrypt(ctx context.Context, req api.DecryptRequestObject) (api.DecryptResponseObject, error) {
	plaintext, err := h.opts.Keys.Decrypt(ctx, principal(ctx).TenantID, req.Id, req.Body.Ciphertext, optBytes(req.Body.Context))
	if err != nil {
		return nil, err
	}
	return decryptOK{Plaintext: plaintext}, nil
}

func (h *handlers) GenerateDataKey(ctx context.Context, req api.GenerateDataKeyRequestObject) (api.GenerateDataKeyResponseObject, error) {
	plaintext, jwe, kid, err := h.opts.Keys.GenerateDataKey(ctx, principal(ctx).TenantID, req.Id, optBytes(req.Body.Context))
	if err != nil {
		return nil, err
	}
	out := dataKeyOK{Ciphertext: jwe, Kid: kid}
	if req.Body.IncludePlaintext == nil || *req.Body.IncludePlaintext {
		out.Plaintext = &plaintext
	}
	return out, nil
}

func (h *handlers) Sign(ctx context.Context, req api.SignRequestObject) (api.SignResponseObject, error) {
	jws, kid, err := h.opts.Keys.Sign(ctx, principal(ctx).TenantID, req.Id, req.Body.Payload)
	if err != nil {
		return nil, err
	}
	return api.Sign200JSONResponse{Signature: jws, Kid: kid}, nil
}

func (h *handlers) Mac(ctx context.Context, req api.MacRequestObject) (api.MacResponseObject, error) {
	jws, kid, err := h.opts.Keys.MAC(ctx, principal(ctx).TenantID, req.Id, req.Body.Payload)
	if err != nil {
		return nil, err
	}
	return api.Mac200JSONResponse{Signature: jws, Kid: kid}, nil
}

func verifyResponse(v keycrypto.Verification) api.VerifyResponse {
	out := api.VerifyResponse{Valid: v.Valid}
	if v.Kid != "" {
		kid := v.Kid
		out.Kid = &kid
	}
	if v.Valid {
		p := v.Payload
		if p == nil {
			p = []byte{}
		}
		out.Payload = &p
	}
	return out
}

func (h *handlers) Verify(ctx context.Context, req api.VerifyRequestObject) (api.VerifyResponseObject, error) {
	v, err := h.opts.Keys.Verify(ctx, principal(ctx).TenantID, req.Id, req.Body.Signature)
	if err != nil {
		return nil, err
	}
	return api.Verify200JSONResponse(verifyResponse(v)), nil
}

func (h *handlers) VerifyMac(ctx context.Context, req api.VerifyMacRequestObject) (api.VerifyMacResponseObject, error) {
	v, err := h.opts.Keys.VerifyMAC(ctx, principal(ctx).TenantID, req.Id, req.Body.Signature)
	if err != nil {
		return nil, err
	}
	return api.VerifyMac200JSONResponse(verifyResponse(v)), nil
}

// jwksOK is the key's public JWK set as go-jose encodes it; the generated
// JWKS type would re-encode every key by hand.
type jwksOK jose.JSONWebKeySet

func (r jwksOK) VisitGetJwksResponse(w http.ResponseWriter) error {
	body, err := json.Marshal(jose.JSONWebKeySet(r))
	if err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(append(body, '\n'))
	return err
}

func (h *handlers) GetJwks(ctx context.Context, req api.GetJwksRequestObject) (api.GetJwksResponseObject, error) {
	set, err := h.opts.Keys.JWKS(ctx, principal(ctx).TenantID, req.Id)
	if err != nil {
		return nil, err
	}
	return jwksOK(set), nil
}
