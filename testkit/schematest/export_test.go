package schematest

// CheckAutoMigrated lets the tests hand checkAutoMigrated a recorder, to
// observe its failure without failing the test.
var CheckAutoMigrated = checkAutoMigrated
