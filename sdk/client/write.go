package client

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// WriteJSON answers an API request with v as JSON: the one JSON writer of
// the API's servers (master, agents, frameworks).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers with the API's error body, {"error": "..."}, which
// Client turns back into an APIError.
func WriteError(w http.ResponseWriter, status int, format string, args ...any) {
	WriteJSON(w, status, ErrorBody{Error: fmt.Sprintf(format, args...)})
}
