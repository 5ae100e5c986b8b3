package api_test

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// TestSpecContract checks the rules every operation must follow: a valid
// document, a known x-required-scope, and problem+json for every error.
func TestSpecContract(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.SpecYAML)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	assert.Contains(t, doc.Components.SecuritySchemes, "basicAuth")
	assert.Contains(t, doc.Components.SecuritySchemes, "bearerAuth")
	assert.Contains(t, doc.Components.SecuritySchemes, "apiKeyAuth")
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			t.Run(method+" "+path, func(t *testing.T) {
				required, _ := op.Extensions["x-required-scope"].(string)
				assert.True(t, scope.IsKnown(required), "x-required-scope %q", required)
				for _, code := range []string{"400", "401", "403", "500"} {
					require.NotNil(t, op.Responses.Value(code), "response %s documented", code)
				}
				for code, resp := range op.Responses.Map() {
					if code[0] == '4' || code[0] == '5' {
						assert.Contains(t, resp.Value.Content, "application/problem+json", code)
					}
				}
				if op.RequestBody != nil {
					for _, code := range []string{"413", "415"} {
						assert.NotNil(t, op.Responses.Value(code), "body operations document %s", code)
					}
				}
			})
		}
	}
	assert.Equal(t, 28, n)
}
