// Package client is the Go client of Pando's HTTP API (/api/v1 on the
// master, :5050 by default) and the home of the API's JSON types, which the
// master serves and the CLI and third-party tools read. It knows no
// framework in particular: a framework's own API types live with it (the
// batch framework's in frameworks/batch/batchapi). MasterFromEnv is the one
// place the master's address is looked up.
package client
