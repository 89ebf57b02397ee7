package integration

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// openapi.yaml is the source; the middleware tests read its summary, a
// JSON file, so that the library's module needs no YAML parser.
const (
	specPath    = "../../openapi.yaml"
	summaryPath = "../../middleware/testdata/openapi-summary.json"
)

var update = flag.Bool("update", false, "rewrite "+summaryPath+" from "+specPath)

// summary is what the middleware tests hold the handlers against: per
// "METHOD /path", the operation's ID, security, whether it has a request
// body and the statuses it documents, and the codes of the Problem schema.
type summary struct {
	OpenAPI      string               `json:"openapi"`
	Operations   map[string]operation `json:"operations"`
	ProblemCodes []string             `json:"problemCodes"`
}

type operation struct {
	OperationID string `json:"operationId"`
	Security    []any  `json:"security"`
	RequestBody bool   `json:"requestBody"`
	Responses   []int  `json:"responses"`
	// Extension names the package whose Extension serves the operation
	// (x-extension), or is empty for the Handler's own.
	Extension string `json:"extension,omitempty"`
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// summarize reads the OpenAPI document at path.
func summarize(path string) (*summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		OpenAPI    string                          `yaml:"openapi"`
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `yaml:"enum"`
						} `yaml:"code"`
					} `yaml:"properties"`
				} `yaml:"Problem"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &summary{OpenAPI: doc.OpenAPI, Operations: map[string]operation{}, ProblemCodes: doc.Components.Schemas.Problem.Properties.Code.Enum}
	slices.Sort(s.ProblemCodes)
	for p, item := range doc.Paths {
		for method, node := range item {
			if !httpMethods[method] {
				continue
			}
			var op struct {
				OperationID string         `yaml:"operationId"`
				Security    []any          `yaml:"security"`
				RequestBody map[string]any `yaml:"requestBody"`
				Responses   map[string]any `yaml:"responses"`
				Extension   string         `yaml:"x-extension"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, p, err)
			}
			o := operation{OperationID: op.OperationID, Security: op.Security, RequestBody: op.RequestBody != nil, Extension: op.Extension}
			for code := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					return nil, fmt.Errorf("%s %s: response %q is not a status code", method, p, code)
				}
				o.Responses = append(o.Responses, n)
			}
			slices.Sort(o.Responses)
			s.Operations[strings.ToUpper(method)+" "+p] = o
		}
	}
	return s, nil
}

// encode writes s as JSON with one operation a line, so that a change to
// openapi.yaml shows in the summary's diff as the operations it touches.
func (s *summary) encode() ([]byte, error) {
	var b bytes.Buffer
	line := func(prefix string, v any, suffix string) error {
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.WriteString(prefix)
		b.Write(j)
		b.WriteString(suffix + "\n")
		return nil
	}
	if err := line("{\n  \"openapi\": ", s.OpenAPI, ","); err != nil {
		return nil, err
	}
	b.WriteString("  \"operations\": {\n")
	keys := slices.Sorted(maps.Keys(s.Operations))
	for i, k := range keys {
		key, _ := json.Marshal(k)
		sep := ","
		if i == len(keys)-1 {
			sep = ""
		}
		if err := line("    "+string(key)+": ", s.Operations[k], sep); err != nil {
			return nil, err
		}
	}
	b.WriteString("  },\n")
	if err := line("  \"problemCodes\": ", s.ProblemCodes, "\n}"); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// TestOpenAPISummary fails when the middleware tests' summary of
// openapi.yaml is out of date; go test -run TestOpenAPISummary -update
// rewrites it.
func TestOpenAPISummary(t *testing.T) {
	s, err := summarize(specPath)
	require.NoError(t, err)
	require.NotEmpty(t, s.Operations)
	require.NotEmpty(t, s.ProblemCodes)
	want, err := s.encode()
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(summaryPath, want, 0o644))
	}
	got, err := os.ReadFile(summaryPath)
	require.NoError(t, err)
	if !bytes.Equal(want, got) {
		require.Equal(t, string(want), string(got), "%s is out of date: run go test -run TestOpenAPISummary -update in internal/integration", summaryPath)
	}
}
