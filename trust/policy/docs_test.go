package policy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestPoliciesDoc keeps docs/POLICIES.md honest: its Cedar examples load,
// and its sample explanation is what Explain prints.
func TestPoliciesDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/POLICIES.md")
	if os.IsNotExist(err) {
		t.Skip("docs/POLICIES.md not found")
	}
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```cedar\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		t.Fatal("no cedar examples in POLICIES.md")
	}
	for i, b := range blocks {
		if _, err := LoadSources(map[string]string{"doc.cedar": b[1]}, true); err != nil {
			t.Errorf("example %d in POLICIES.md does not load:\n%v", i+1, err)
		}
	}

	golden, err := os.ReadFile("testdata/explain.golden")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```\n(decision: .*?)```").FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("no sample explanation in POLICIES.md")
	}
	if !strings.Contains(string(golden), m[1]) {
		t.Errorf("the sample explanation in POLICIES.md is not what Explain prints (see testdata/explain.golden):\n%s", m[1])
	}
}
