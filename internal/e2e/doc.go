// Package e2e tests the real spendsense binary as separate processes: several
// servers sharing one database, and servers killed mid-write. It has only
// tests.
package e2e
