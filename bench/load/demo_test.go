package load

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// keepRunningText is the shape of `demo integration --keep-running`.
const keepRunningText = `Summary: 9 passed, 0 failed, 0 not run
The services keep running. Demo data lives in /tmp/d and is deleted when the demo stops.

Identity
  URL:              https://127.0.0.1:36287
  demo credentials: /tmp/d/identity/demo.json
  CA bundle:        /tmp/d/tls/ca.pem

KMS
  URL:              https://127.0.0.1:44885
  demo credentials: /tmp/d/kms/demo.json

Press Ctrl-C to stop the services.
`

func TestDemoOutput(t *testing.T) {
	var p demoOutput
	ready := 0
	for i, l := range strings.Split(keepRunningText, "\n") {
		if p.line(l) {
			ready = i
		}
	}
	assert.Equal(t, 12, ready, "the ready line is recognised")
	assert.Equal(t, "/tmp/d/kms/demo.json", p.kms)
	assert.Equal(t, "/tmp/d/identity/demo.json", p.identity)
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	for i := range tailLines + 5 {
		tb.add(strings.Repeat("x", i))
	}
	lines := strings.Split(tb.String(), "\n")
	assert.Len(t, lines, tailLines)
	assert.Equal(t, strings.Repeat("x", 5), lines[0], "the oldest lines go")
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:p@127.0.0.1:5432/passthru?sslmode=disable", "load_1")
	assert.NoError(t, err)
	assert.Equal(t, "postgres://u:p@127.0.0.1:5432/load_1?sslmode=disable", got)
	got, err = withDatabase("host=127.0.0.1 user=u dbname=passthru", "load_1")
	assert.NoError(t, err)
	assert.Equal(t, "host=127.0.0.1 user=u dbname=passthru dbname=load_1", got)
	_, err = withDatabase("postgres://u:secret@[::1", "load_1")
	assert.ErrorContains(t, err, "not a valid URL")
	assert.NotContains(t, err.Error(), "secret", "the password is not echoed")
}
