package keycrypto

import jose "github.com/go-jose/go-jose/v4"

// PublicJWKS returns the public JWKs of the given keys, in order, each with kid, alg (the JOSE name) and use
// ("sig" or "enc"). Symmetric keys (A256GCM, A256KW, HS256) and nil entries yield nothing. Which versions
// to publish (e.g. only enabled ones) is the caller's choice.
func PublicJWKS(keys []*Key) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if k == nil || k.public == nil {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: string(k.alg), Use: k.alg.use()})
	}
	return set
}
