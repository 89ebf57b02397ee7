package middleware

import (
	"encoding/json"
	"fmt"
	"os"
)

// SpecSummary is the summary of openapi.yaml that the tests hold the
// handlers against, in JSON so that the library's module needs no YAML
// parser. openapi.yaml is the source: TestOpenAPISummary in the module
// internal/integration fails when the summary differs from it, and
// rewrites it when run with -update.
const SpecSummary = "testdata/openapi-summary.json"

// SpecOperations reads the summary at path and returns, per
// "METHOD /path" pattern, the response statuses openapi.yaml documents.
func SpecOperations(path string) (map[string]map[int]bool, error) {
	doc, err := loadSpec(path)
	if err != nil {
		return nil, err
	}
	ops := map[string]map[int]bool{}
	for pattern, op := range doc.Operations {
		codes := map[int]bool{}
		for _, code := range op.Responses {
			codes[code] = true
		}
		ops[pattern] = codes
	}
	return ops, nil
}

// specDoc is the summary of the OpenAPI document: its version, each
// operation by "METHOD /path", and the codes of the Problem schema.
type specDoc struct {
	OpenAPI      string            `json:"openapi"`
	Operations   map[string]specOp `json:"operations"`
	ProblemCodes []string          `json:"problemCodes"`
}

type specOp struct {
	OperationID string `json:"operationId"`
	Security    []any  `json:"security"`
	RequestBody bool   `json:"requestBody"`
	Responses   []int  `json:"responses"`
	Extension   string `json:"extension"`
}

func loadSpec(path string) (*specDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc specDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Operations) == 0 {
		return nil, fmt.Errorf("%s: no operations", path)
	}
	return &doc, nil
}
