package httpx

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem details object. Code is an extension
// member: a stable, machine-readable error code for clients.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code,omitempty"`
}

// ProblemContentType is the media type of RFC 9457 responses.
const ProblemContentType = "application/problem+json"

// WriteProblem writes p as application/problem+json with status p.Status.
// Empty fields get RFC 9457 defaults: Type "about:blank", Title the status
// text; a Status outside 400-599 becomes 500, since a problem is an error.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Status < 400 || p.Status > 599 {
		p.Status = http.StatusInternalServerError
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	// A Problem holds only strings and an int: Marshal cannot fail.
	body, _ := json.Marshal(p)
	writeBody(w, p.Status, ProblemContentType, body)
}

// WriteJSON writes v as application/json with the given status. If v cannot
// be encoded, the client gets a 500 problem instead of half a document.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteProblem(w, Problem{Status: http.StatusInternalServerError, Detail: "response encoding failed"})
		return
	}
	writeBody(w, status, "application/json", body)
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	// A failed write means the client went away; there is no one to tell.
	_, _ = w.Write(append(body, '\n'))
}
