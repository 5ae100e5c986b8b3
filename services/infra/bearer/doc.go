// Package bearer is the resource-server side of RFC 9068 JWT access tokens:
// it verifies tokens of a fixed set of trusted issuers against their published
// JWK sets, maps a verified token to a tenant, and plugs into authn as the
// Bearer Authenticator.
//
// The model:
//
//   - Trust is configured, never learned. Each IssuerConfig names one issuer
//     exactly (its iss), the audiences that identify this resource server, the
//     algorithms the issuer may use and the CA bundle its HTTPS endpoints are
//     verified against. A token picks its issuer by its (as yet unverified)
//     iss and is then checked with that issuer's keys only, so a key of one
//     issuer never vouches for a token claiming another.
//
//   - Keys come from the issuer's JWK set (its jwks_uri, configured or
//     discovered from the issuer's RFC 8414 / OpenID metadata). The set is
//     fetched on first use and kept for JWKSCacheTTL. A token whose kid is
//     unknown makes the verifier fetch the set again, because that is how a
//     rotated-in key becomes known without a restart; but at most once per
//     MinRefreshInterval per issuer, so a flood of tokens with made-up kids
//     costs the issuer at most one request per interval instead of one per
//     token. Concurrent refreshes share one request.
//
//   - Fail closed. When the keys of an issuer could never be fetched, its
//     tokens are refused with an error wrapping authn.ErrUnavailable (503:
//     retry later), never let through. When a refresh after JWKSCacheTTL
//     fails, the keys already known keep being used for a bounded grace
//     period (until twice JWKSCacheTTL after the last successful fetch),
//     so a short outage of the issuer does not take the resource server down
//     with it; after that the issuer's tokens are refused as unavailable.
//
//   - Verified tokens are cached. A signature check costs tens of
//     microseconds and a client presents the same token on every request
//     until it expires, so the verifier remembers tokens it verified, keyed by
//     the SHA-256 of the raw token, until their exp (or CacheMaxAge after
//     verification, when that is sooner). A cache hit does no parsing and no
//     signature check; it does check that the token's key is still in the
//     issuer's current key set, so a key the issuer withdrew stops vouching
//     for cached tokens as soon as the verifier learns of it. The cache is
//     bounded (Options.CacheSize) and concurrent first verifications of one
//     token share a single check.
//
//   - Every refusal wraps authn.ErrInvalidCredentials and names its reason in
//     the error text for logs. The Authenticator never tells the client which
//     check failed: the client sees RFC 6750's error="invalid_token" only.
//
// What the verifier does not do: revocation (tokens are self-contained; an
// Authenticator asks a Revoker, such as an introspection client, when one is
// configured for the issuer), and deciding what a tenant claim means (that is
// the TenantMapper's, configured by the caller).
package bearer
