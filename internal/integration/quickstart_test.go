package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// quickStartOutput is what the quick start prints: the token names the
// user, and after the logout the refreshed token is refused.
const quickStartOutput = "true\ntrue\n"

// TestQuickStart runs the quick start of README.md and of the package
// documentation (doc.go) as the programs they are, so that neither can
// stop compiling, leave an error unchecked (vet) or stop doing what it
// says; the two must also stay the same program.
func TestQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	doc, err := os.ReadFile("../../doc.go")
	require.NoError(t, err)
	fromReadme := readmeQuickStart(t, string(readme))
	fromDoc := docQuickStart(t, string(doc))
	require.Equal(t, fromReadme, fromDoc, "README.md and doc.go show the same quick start")
	require.True(t, strings.HasPrefix(fromReadme, "package main\n"), "the quick start is a complete program")

	dir, err := os.MkdirTemp(".", "_quickstart") // inside the module, which the go tool ignores in ./...
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(fromReadme), 0o600))
	pkg := "./" + filepath.Base(dir)
	out, err := exec.Command("go", "vet", pkg).CombinedOutput()
	require.NoError(t, err, "go vet: %s", out)
	cmd := exec.Command("go", "run", pkg)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "go run: %s", stderr.String())
	require.Equal(t, quickStartOutput, stdout.String())
}

// readmeQuickStart returns the first Go block under "## Quick start".
func readmeQuickStart(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## Quick start\n")
	require.True(t, ok, "README.md has a Quick start section")
	_, after, ok = strings.Cut(after, "```go\n")
	require.True(t, ok, "the Quick start has a Go block")
	block, _, ok := strings.Cut(after, "```\n")
	require.True(t, ok)
	return block
}

// docQuickStart returns the code block of doc.go's "# Quick start"
// heading, with the comment markers and the block's indent removed.
func docQuickStart(t *testing.T, doc string) string {
	t.Helper()
	_, after, ok := strings.Cut(doc, "// # Quick start\n")
	require.True(t, ok, "doc.go has a Quick start heading")
	var b strings.Builder
	started := false
	for line := range strings.Lines(after) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "//\t"):
			started = true
			b.WriteString(strings.TrimPrefix(line, "//\t") + "\n")
		case line == "//" && started:
			b.WriteString("\n")
		case started:
			return strings.TrimRight(b.String(), "\n") + "\n"
		}
	}
	t.Fatal("doc.go's quick start block does not end")
	return ""
}
