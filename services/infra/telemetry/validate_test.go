package telemetry

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateExport(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc     string
		endpoint string
		caFile   string
		want     []string
	}{
		{desc: "no export"},
		{desc: "https with a CA bundle", endpoint: "https://otel.example:4318/otlp", caFile: "/etc/ca.pem"},
		{desc: "CA bundle without endpoint", caFile: "/etc/ca.pem", want: []string{"log.otlp_ca_file: set without log.otlp_endpoint"}},
		{desc: "plain http", endpoint: "http://127.0.0.1:4318", caFile: "/etc/ca.pem", want: []string{"log.otlp_endpoint: must be an https URL"}},
		{desc: "credentials in the URL are refused and not echoed", endpoint: "https://u:hunter2@otel:4318", caFile: "/etc/ca.pem", want: []string{"without credentials"}},
		{desc: "query string", endpoint: "https://otel:4318/?x=1", caFile: "/etc/ca.pem", want: []string{"log.otlp_endpoint"}},
		{desc: "no host", endpoint: "https:///v1", caFile: "/etc/ca.pem", want: []string{"log.otlp_endpoint"}},
		{desc: "endpoint without CA bundle", endpoint: "https://otel:4318", want: []string{"log.otlp_ca_file: required with log.otlp_endpoint"}},
		{desc: "both wrong", endpoint: "ftp://otel", want: []string{"log.otlp_endpoint", "log.otlp_ca_file: required"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			errs := ValidateExport(tc.endpoint, tc.caFile)
			assert.Len(t, errs, len(tc.want))
			joined := errors.Join(errs...)
			for _, w := range tc.want {
				assert.ErrorContains(t, joined, w)
			}
			if joined != nil {
				assert.NotContains(t, joined.Error(), "hunter2")
			}
		})
	}
}
