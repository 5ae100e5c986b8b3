package factory

import (
	"github.com/passthru-dev/passthru/services/kms/api"
)

// ElasticKey returns a create request for a key of alg with a unique name
// ("key-<uuidv7>") and versioning allowed. Edit the result to change defaults.
func ElasticKey(alg string) api.CreateElasticKeyRequest {
	desc := "test key"
	versioning := true
	return api.CreateElasticKeyRequest{
		Name: Name("key"), Algorithm: api.Algorithm(alg), Description: &desc, VersioningAllowed: &versioning,
	}
}

// RealmUser returns a create request for a database realm user with a
// unique username, the given roles and a valid password.
func RealmUser(roles ...string) api.CreateRealmUserRequest {
	return api.CreateRealmUserRequest{Username: Name("user"), Password: "test-password-" + Name("p"), Roles: roles}
}
