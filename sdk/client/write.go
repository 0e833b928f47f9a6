package client

import (
	"net/http"

	"github.com/pandodc/pando/internal/httpjson"
)

// WriteJSON answers an API request with v as JSON, as Pando's own servers
// do (internal/httpjson): for frameworks that serve an API of their own.
func WriteJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// WriteError answers with the API's error body, {"error": "..."}, which
// Client turns back into an APIError.
func WriteError(w http.ResponseWriter, status int, format string, args ...any) {
	httpjson.Error(w, status, format, args...)
}
