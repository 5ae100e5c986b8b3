// Package kms is the domain of the key management service: tenants, elastic
// keys and their material keys (versions), the audit trail, the one error
// type with its codes, and the KeyStore contract that storage adapters
// (sqlstore) implement. It holds no SQL and no HTTP: the rules live in keys,
// storage in sqlstore, HTTP in httpapi, and they meet through these types.
package kms
