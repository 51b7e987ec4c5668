package skill

import (
	"path"
	"testing"
)

// FuzzParseManifest checks that no manifest makes ParseManifest, or
// validation against the schemas it accepts, panic or hang, and that
// whatever it accepts satisfies the manifest rules. The seed corpus is in
// testdata/fuzz/FuzzParseManifest.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(testManifest))
	f.Add([]byte(reportManifest))
	for _, name := range BuiltinNames() {
		data, err := builtinFS.ReadFile(path.Join("builtin", name, ManifestFile))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	values := []any{
		nil, true, 0.0, 1.5, -3.0, "", "text", []any{}, []any{1.0, "a", nil},
		map[string]any{}, map[string]any{"text": "t", "a": map[string]any{"b": []any{1.0}}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if m != nil {
				t.Fatal("manifest returned with an error")
			}
			return
		}
		switch {
		case !ValidName(m.Name):
			t.Fatalf("accepted name %q", m.Name)
		case !ValidVersion(m.Version):
			t.Fatalf("accepted version %q", m.Version)
		case m.Description == "":
			t.Fatal("accepted an empty description")
		case m.Risk != RiskLow && m.Risk != RiskMedium && m.Risk != RiskHigh && m.Risk != RiskCritical:
			t.Fatalf("accepted risk %q", m.Risk)
		case m.MaxAttempts < 1 || m.MaxAttempts > 10:
			t.Fatalf("accepted max_attempts %d", m.MaxAttempts)
		case m.HistoryRuns < 1 || m.HistoryRuns > 50:
			t.Fatalf("accepted history_runs %d", m.HistoryRuns)
		case m.BudgetMicros < 0:
			t.Fatalf("accepted budget_micros %d", m.BudgetMicros)
		case m.Verify.Strategy == "":
			t.Fatal("no verify strategy")
		case m.in == nil || m.out == nil:
			t.Fatal("schemas not compiled")
		}
		for _, tier := range m.Routing.Tiers {
			if tier < 0 || tier > 9 {
				t.Fatalf("accepted tier %d", tier)
			}
		}
		s := &Skill{Manifest: *m}
		for _, v := range values {
			s.ValidateInput(v)
			s.ValidateOutput(v)
		}
	})
}
