// Package httpjson is the one way Pando's HTTP handlers answer in JSON:
// the master's API, the agent's sandbox API and the frameworks' APIs. An
// error is always {"error": "<what is wrong and what to do>"}, the body
// sdk/client decodes into an APIError.
package httpjson

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// ErrorBody is the body of every error answer (sdk/client.ErrorBody reads
// it).
type ErrorBody struct {
	Error string `json:"error"`
}

// Write answers with status and v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers with status and {"error": message}.
func Error(w http.ResponseWriter, status int, format string, args ...any) {
	Write(w, status, ErrorBody{Error: fmt.Sprintf(format, args...)})
}
