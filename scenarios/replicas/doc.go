// Package replicas holds the scenarios of two KMS and two Identity
// replicas on one PostgreSQL database: what one replica does, the other
// sees, within the bound the services document. The tests start the
// replicas as in-process servers (testkit/fixture) on loopback, each with
// its own port, all of a service's replicas on the same database and data
// directory, as replicas behind a load balancer run.
//
// Replicas are a PostgreSQL story: SQLite is one process's database. On a
// SQLite-only run the tests skip, saying so; the PostgreSQL leg of the same
// CI run runs them, and a CI run without PostgreSQL fails them.
package replicas
