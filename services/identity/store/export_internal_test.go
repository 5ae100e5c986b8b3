package store

// LegacyTenantRows are the rows of the tenant tables whose schema has not
// changed since tenant migration 1, for tests that rebuild an old database
// with AutoMigrate as the releases before the SQL migrations did.
var LegacyTenantRows = []any{&userRow{}, &clientRow{}, &consentRow{}, &authCodeRow{}, &accessTokenRow{}}
