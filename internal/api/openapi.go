package api

import _ "embed"

//go:embed openapi.json
var openapiJSON []byte

// OpenAPIDocument returns the OpenAPI 3 description of the API served at /api/openapi.json.
func OpenAPIDocument() []byte { return openapiJSON }
