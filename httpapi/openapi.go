package httpapi

import _ "embed"

// openapiJSON is the OpenAPI 3.1 document of the API, served at
// /api/v1/openapi.json; TestOpenAPIMatchesHandlers holds it to the route
// table.
//
//go:embed openapi.json
var openapiJSON []byte
