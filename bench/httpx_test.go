package bench

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// DecodeJSON runs on every JSON API request: content-type check, size limit,
// strict decoding with unknown fields and trailing data rejected.

// encryptRequest has the shape of the KMS encrypt body.
type encryptRequest struct {
	Plaintext []byte `json:"plaintext"`
	Context   []byte `json:"context,omitempty"`
}

var encryptBody = []byte(`{"plaintext":"c2VjcmV0IGRhdGEgdGhhdCBuZWVkcyBwcm90ZWN0aW5nIGF0IHJlc3Q=","context":"eyJhcHAiOiJvcmRlcnMifQ=="}`)

func BenchmarkHTTPXDecodeJSON(b *testing.B) {
	body := bytes.NewReader(encryptBody)
	r := &http.Request{
		Method: http.MethodPost,
		Header: http.Header{"Content-Type": []string{"application/json"}},
		Body:   io.NopCloser(body),
	}
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(encryptBody) // rewinds the request body without allocating
		var req encryptRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			b.Fatal(err)
		}
	}
}
