// Package realnet gives tests real network peers: two network namespaces joined by a veth pair
// (the "pod" and a "peer"), real MariaDB and PostgreSQL servers in the peer namespace, clients
// and Go drivers in the pod namespace, tcpdump on either veth and tshark to dissect what it wrote.
//
// Every helper takes a TB (a *testing.T or *testing.B will do), skips the test when it is not
// root or a binary is missing, and registers a Cleanup that kills and waits for what it started
// and deletes what it created. Addresses exist only inside the namespaces of a pair, so pairs of
// parallel tests and packages never collide; namespace names carry the pid and a counter.
//
// The Debian packages needed are iproute2, mariadb-server, mariadb-client, postgresql,
// tcpdump and tshark (capinfos is not needed: packets are counted in Go).
package realnet
