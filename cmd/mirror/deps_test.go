package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateDeps = flag.Bool("update-deps", false, "rewrite testdata/deps.golden with the modules linked into mirror")

// forbidden are modules that must never be linked into the kernel: vendor
// LLM SDKs (the bus speaks wire protocols itself), OPA (heavy; Cedar is the
// policy engine), and cgo SQLite drivers.
var forbidden = []string{
	"github.com/openai/", "github.com/anthropics/", "github.com/google/generative-ai-go", "google.golang.org/genai",
	"github.com/open-policy-agent/", "github.com/mattn/go-sqlite3", "github.com/ollama/",
}

// TestLinkedModules is the dependency guard: the modules linked into mirror
// are a reviewed list (testdata/deps.golden). Adding one fails this test
// until the golden file is updated with -update-deps, so growth of the
// binary is a decision made in review.
func TestLinkedModules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}} {{if .CgoFiles}}CGO{{end}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var mods []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		mod, cgo, _ := strings.Cut(line, " ")
		if strings.TrimSpace(cgo) == "CGO" {
			t.Errorf("a linked package uses cgo (module %q): the kernel must build with CGO_ENABLED=0", mod)
		}
		if mod != "" && mod != "github.com/mirroros/mirror" && !slices.Contains(mods, mod) {
			mods = append(mods, mod)
		}
	}
	slices.Sort(mods)
	for _, m := range mods {
		for _, f := range forbidden {
			if strings.HasPrefix(m, f) {
				t.Errorf("forbidden module linked into mirror: %s", m)
			}
		}
	}
	golden := filepath.Join("testdata", "deps.golden")
	got := strings.Join(mods, "\n") + "\n"
	if *updateDeps {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./cmd/mirror -run TestLinkedModules -update-deps)", err)
	}
	if got != string(want) {
		t.Fatalf("the modules linked into mirror changed; review, then run: go test ./cmd/mirror -run TestLinkedModules -update-deps\ngot:\n%swant:\n%s", got, want)
	}
}
