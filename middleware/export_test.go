package middleware

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SpecOperations reads the OpenAPI document at path and returns, per
// "METHOD /path" pattern, the response statuses it documents.
func SpecOperations(path string) (map[string]map[int]bool, error) {
	doc, err := loadSpec(path)
	if err != nil {
		return nil, err
	}
	ops := map[string]map[int]bool{}
	for p, item := range doc.Paths {
		for method, node := range item {
			if !httpMethods[method] {
				continue
			}
			var op specOp
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, p, err)
			}
			codes := map[int]bool{}
			for code := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					return nil, fmt.Errorf("%s %s: response %q is not a status code", method, p, code)
				}
				codes[n] = true
			}
			ops[strings.ToUpper(method)+" "+p] = codes
		}
	}
	return ops, nil
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// specDoc is the part of an OpenAPI document the tests read.
type specDoc struct {
	OpenAPI    string                           `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node  `yaml:"paths"`
	Components struct{ Schemas map[string]any } `yaml:"components"`
}

type specOp struct {
	OperationID string         `yaml:"operationId"`
	Security    []any          `yaml:"security"`
	RequestBody map[string]any `yaml:"requestBody"`
	Responses   map[string]any `yaml:"responses"`
}

func loadSpec(path string) (*specDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc specDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &doc, nil
}
