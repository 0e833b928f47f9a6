package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestErrorBody(t *testing.T) {
	rec := httptest.NewRecorder()
	Error(rec, http.StatusConflict, "task %s has ended", "t1")
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusConflict || rec.Header().Get("Content-Type") != "application/json" || body["error"] != "task t1 has ended" || len(body) != 1 {
		t.Fatalf("answer %d %q %v", rec.Code, rec.Header().Get("Content-Type"), body)
	}
}
