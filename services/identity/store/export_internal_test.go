package store

// LegacyTenantRows are the rows of the tenant tables whose schema has not
// changed since tenant migration 1, for tests that rebuild an old database
// with AutoMigrate as the releases before the SQL migrations did (clients
// and refresh tokens changed since: the tests bring their own old rows).
var LegacyTenantRows = []any{&userRow{}, &consentRow{}, &authCodeRow{}, &accessTokenRow{}}
