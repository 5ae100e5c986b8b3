// Package api holds the KMS OpenAPI spec (openapi.yaml, the source of truth)
// and the code generated from it: the server interface and types the KMS
// implements, and a Go client for scenarios and tools.
package api

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config codegen.yaml openapi.yaml

import _ "embed"

// SpecYAML is openapi.yaml exactly as committed, served at /api/v1/openapi.yaml.
//
//go:embed openapi.yaml
var SpecYAML []byte
