package oauth

import (
	"net/http"

	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// Metadata is the discovery document (RFC 8414, OpenID Connect Discovery).
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	IntrospectionBatchEndpoint                 string   `json:"introspection_batch_endpoint"` // a Passthru extension, not registered metadata
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
}

// Metadata returns the discovery document: exactly the endpoints, grants and
// methods this server implements. introspection_batch_endpoint is a Passthru
// extension: RFC 7662 introspection of up to MaxBatchTokens tokens per
// request, authenticated like the introspection endpoint. tls_client_auth
// (RFC 8705 §2.1) is advertised when the listener asks for client
// certificates, and authenticates clients only: access tokens are not bound
// to the certificate, so tls_client_certificate_bound_access_tokens is left
// out (false).
func (s *Server) Metadata() Metadata {
	iss := s.cfg.Issuer
	withCert := func(methods ...string) []string {
		if s.cfg.ClientCertificates {
			methods = append(methods, AuthTLS)
		}
		return methods
	}
	return Metadata{
		Issuer:                                    iss,
		AuthorizationEndpoint:                     iss + PathAuthorize,
		TokenEndpoint:                             iss + PathToken,
		JWKSURI:                                   iss + PathJWKS,
		UserinfoEndpoint:                          iss + PathUserinfo,
		EndSessionEndpoint:                        iss + PathLogout,
		IntrospectionEndpoint:                     iss + PathIntrospect,
		IntrospectionBatchEndpoint:                iss + PathIntrospectBatch,
		RevocationEndpoint:                        iss + PathRevoke,
		ScopesSupported:                           []string{"openid", "profile", "email"},
		ResponseTypesSupported:                    []string{"code"},
		ResponseModesSupported:                    []string{"query"},
		GrantTypesSupported:                       []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken},
		CodeChallengeMethodsSupported:             []string{"S256"},
		TokenEndpointAuthMethodsSupported:         withCert(AuthBasic, AuthPost, AuthNone),
		IntrospectionEndpointAuthMethodsSupported: withCert(AuthBasic, AuthPost),
		RevocationEndpointAuthMethodsSupported:    withCert(AuthBasic, AuthPost, AuthNone),
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          []string{s.cfg.Tokens.Keys.Algorithm()},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
			"tenant_id", "name", "preferred_username", "email", "email_verified"},
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		AuthorizationResponseIssParameterSupported: true,
	}
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	// Short caching: clients may cache, but a changed configuration shows soon.
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, s.Metadata())
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := s.cfg.Tokens.Keys.JWKS(r.Context())
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	// Relying parties re-fetch on an unknown kid; the pre-publication period
	// of new keys is longer than this.
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, set)
}
