// Command pando is Pando's one binary: the servers (`pando dev`, `pando
// master`, `pando agent`) and the client commands (`pando run`, `ps`, `jobs`,
// `logs`, `kill`, `agents`, `frameworks`) that talk to a master's HTTP API.
package main
