// Package realnet gives tests real network peers: two network namespaces joined by a veth pair
// (the "pod" and a "peer"), real MariaDB and PostgreSQL servers in the peer namespace, clients
// and Go drivers in the pod namespace, tcpdump on either veth and tshark to dissect what it wrote.
//
//	p := realnet.NewPair(t)
//	pg := realnet.StartPostgres(t, p, realnet.PostgresOptions{})
//	dump := realnet.StartTcpdump(t, p, p.PodNS, p.PodIf, file, "tcp port 5432")
//	out, err := pg.RunClient("SELECT 1")      // psql in the pod namespace
//	conn := pg.Connect(t)                      // pgx, dialling from the pod namespace
//	stats, err := dump.Stop()
//	fields, err := realnet.Tshark(t, file, "-Y", "pgsql.query", "-T", "fields", "-e", "pgsql.query")
//
// Every helper takes a TB (a *testing.T or *testing.B will do), skips the test when it is not
// root or a binary is missing, and registers a Cleanup that kills and waits for what it started
// and deletes what it created. Addresses exist only inside the namespaces of a pair, so pairs of
// parallel tests and packages never collide; namespace names carry the pid and a counter.
//
// CaptureLoad, and cmd/loadpcap around it, write pcaps of sustained pgbench and mariadb-slap
// load for the replay benchmarks.
//
// Debian 12 packages: iproute2, util-linux (setpriv), mariadb-server, mariadb-client
// (mariadb-slap), postgresql (postgresql-15 holds initdb, postgres and pgbench), tcpdump and
// tshark. Neither ethtool nor capinfos is needed.
package realnet
