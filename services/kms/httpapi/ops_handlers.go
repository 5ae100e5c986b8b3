package httpapi

import (
	"net/http"

	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

func optBytes(p *[]byte) []byte {
	if p == nil {
		return nil
	}
	return *p
}

func (h *handlers) Encrypt(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.EncryptRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	jwe, kid, err := h.opts.Keys.Encrypt(r.Context(), principal(r).TenantID, id, req.Plaintext, optBytes(req.Context))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, api.EncryptResponse{Ciphertext: jwe, Kid: kid})
}

func (h *handlers) Decrypt(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.DecryptRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	plaintext, err := h.opts.Keys.Decrypt(r.Context(), principal(r).TenantID, id, req.Ciphertext, optBytes(req.Context))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, api.DecryptResponse{Plaintext: plaintext})
}

func (h *handlers) GenerateDataKey(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.GenerateDataKeyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	plaintext, jwe, kid, err := h.opts.Keys.GenerateDataKey(r.Context(), principal(r).TenantID, id, optBytes(req.Context))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.GenerateDataKeyResponse{Ciphertext: jwe, Kid: kid}
	if req.IncludePlaintext == nil || *req.IncludePlaintext {
		out.Plaintext = &plaintext
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) Sign(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.SignRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	jws, kid, err := h.opts.Keys.Sign(r.Context(), principal(r).TenantID, id, req.Payload)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, api.SignResponse{Signature: jws, Kid: kid})
}

func (h *handlers) Mac(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.SignRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	jws, kid, err := h.opts.Keys.MAC(r.Context(), principal(r).TenantID, id, req.Payload)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, api.SignResponse{Signature: jws, Kid: kid})
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

func (h *handlers) Verify(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.VerifyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.opts.Keys.Verify(r.Context(), principal(r).TenantID, id, req.Signature)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, verifyResponse(v))
}

func (h *handlers) VerifyMac(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	var req api.VerifyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.opts.Keys.VerifyMAC(r.Context(), principal(r).TenantID, id, req.Signature)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, verifyResponse(v))
}

func (h *handlers) GetJwks(w http.ResponseWriter, r *http.Request, id api.KeyID) {
	set, err := h.opts.Keys.JWKS(r.Context(), principal(r).TenantID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, set)
}
