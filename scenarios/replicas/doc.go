// Package replicas holds the scenarios of two KMS and two Identity
// replicas on one PostgreSQL database: what one replica does, the other
// sees, at once or within the bound the services document. Every replica
// is a process of its own (testkit/procs) on loopback, with its own port;
// a service's replicas share its database and data directory, as replicas
// behind a load balancer do, and the first Identity replica's address
// stands for the public issuer.
//
// Replicas are a PostgreSQL story: SQLite is one process's database. On
// the SQLite leg of a run the tests skip, saying so, and the PostgreSQL leg
// runs them; under CI=true a run without PostgreSQL fails them.
package replicas
