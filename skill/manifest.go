package skill

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"
)

// Size limits for the files of a bundle.
const (
	MaxManifestSize  = 256 << 10 // bytes of skill.toml
	MaxTemplateSize  = 256 << 10 // bytes of prompt.tmpl
	MaxSignatureSize = 64 << 10  // bytes of skill.sig
)

// Risk levels a manifest may declare.
const (
	RiskLow      = "low"
	RiskMedium   = "medium"
	RiskHigh     = "high"
	RiskCritical = "critical"
)

// Verification strategies a manifest may declare in [verify].
const (
	VerifySchema  = "schema"  // the output must validate against output_schema
	VerifyModel   = "model"   // a verifier model also checks the output
	VerifyCouncil = "council" // several models vote on the output
	VerifyNone    = "none"    // the output is taken as produced
)

// Defaults applied to fields a manifest leaves out.
const (
	DefaultMaxAttempts = 2
	DefaultHistoryRuns = 5
	DefaultModel       = "default"
)

// Manifest is a parsed and validated skill.toml. Defaults are filled in:
// Risk, MaxAttempts, HistoryRuns, Verify.Strategy and, for the model
// strategy, Verify.Model are never empty or zero.
type Manifest struct {
	Name         string   // ^[a-z][a-z0-9-]{0,62}$
	Version      string   // semantic version MAJOR.MINOR.PATCH[-prerelease]
	Description  string   // what the skill does, for people and for routing
	Scopes       []string // lease scopes the skill needs
	Risk         string   // RiskLow, RiskMedium, RiskHigh or RiskCritical
	MaxAttempts  int      // attempts at schema-valid output, including the repair, 1..10
	BudgetMicros int64    // per-run cost cap in micro-dollars; 0 means none
	History      bool     // inject the caller's last HistoryRuns run summaries
	HistoryRuns  int      // 1..50
	Memory       bool     // add relevant canon claims from the kernel's memory to the prompt (retrieval)
	Keywords     []string // words that select this skill for a goal without a model
	Routing      Routing
	Verify       Verification

	// InputSchema and OutputSchema are the JSON Schemas of the manifest's
	// input_schema and output_schema tables, as compact JSON.
	InputSchema  json.RawMessage
	OutputSchema json.RawMessage

	in, out *compiledSchema
}

// Routing constrains which models may run a skill.
type Routing struct {
	LocalOnly bool     // only local models may run the skill
	Tiers     []int    // allowed provider tiers, 0..9; empty allows any
	Models    []string // preferred models or aliases, in order; empty means "default"
}

// Verification says how a skill's output is checked before it is accepted.
type Verification struct {
	Strategy string   // VerifySchema, VerifyModel, VerifyCouncil or VerifyNone
	Model    string   // verifier model for VerifyModel
	Council  []string // models for VerifyCouncil
}

// A ManifestError lists everything wrong with a manifest.
type ManifestError struct {
	Problems []string
}

// Error returns all problems in one line.
func (e *ManifestError) Error() string {
	return "invalid skill manifest: " + strings.Join(e.Problems, "; ")
}

// manifestFile is skill.toml as written.
type manifestFile struct {
	Name         string   `toml:"name"`
	Version      string   `toml:"version"`
	Description  string   `toml:"description"`
	Scopes       []string `toml:"scopes"`
	Risk         string   `toml:"risk"`
	MaxAttempts  int      `toml:"max_attempts"`
	BudgetMicros int64    `toml:"budget_micros"`
	History      bool     `toml:"history"`
	HistoryRuns  int      `toml:"history_runs"`
	Memory       bool     `toml:"memory"`
	Keywords     []string `toml:"keywords"`
	Routing      struct {
		LocalOnly bool     `toml:"local_only"`
		Tiers     []int    `toml:"tiers"`
		Models    []string `toml:"models"`
	} `toml:"routing"`
	Verify struct {
		Strategy string   `toml:"strategy"`
		Model    string   `toml:"model"`
		Council  []string `toml:"council"`
	} `toml:"verify"`
	InputSchema  map[string]any `toml:"input_schema"`
	OutputSchema map[string]any `toml:"output_schema"`
}

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
		`(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?$`)
)

// maxVersionLen bounds a version string, which is also a directory name.
const maxVersionLen = 128

// ValidName reports whether name is a valid skill name: a lower-case letter
// followed by up to 62 lower-case letters, digits and hyphens.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ValidVersion reports whether v is a semantic version MAJOR.MINOR.PATCH,
// optionally followed by -prerelease. Build metadata (+...) is not allowed.
func ValidVersion(v string) bool {
	return len(v) <= maxVersionLen && semverRE.MatchString(v)
}

// CompareVersions compares two valid versions by semantic-version
// precedence, returning -1, 0 or +1. A prerelease sorts before its release.
// Invalid versions sort before valid ones, and among themselves by string.
func CompareVersions(a, b string) int {
	ma, mb := semverRE.FindStringSubmatch(a), semverRE.FindStringSubmatch(b)
	switch {
	case ma == nil && mb == nil:
		return strings.Compare(a, b)
	case ma == nil:
		return -1
	case mb == nil:
		return 1
	}
	for i := 1; i <= 3; i++ {
		if c := compareNumeric(ma[i], mb[i]); c != 0 {
			return c
		}
	}
	pa, pb := ma[4], mb[4]
	switch {
	case pa == pb:
		return 0
	case pa == "":
		return 1
	case pb == "":
		return -1
	}
	fa, fb := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, nb := isNumeric(fa[i]), isNumeric(fb[i])
		var c int
		switch {
		case na && nb:
			c = compareNumeric(fa[i], fb[i])
		case na:
			c = -1
		case nb:
			c = 1
		default:
			c = strings.Compare(fa[i], fb[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(fa), len(fb))
}

// compareNumeric compares decimal strings without leading zeros.
func compareNumeric(a, b string) int {
	if c := cmpInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isNumeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// ParseManifest parses and validates the contents of a skill.toml. It
// rejects unknown keys, values out of range and schemas that do not compile,
// reporting every problem it finds in a [*ManifestError]. A TOML syntax
// error is returned as is.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("skill.toml is %d bytes, more than the limit of %d", len(data), MaxManifestSize)
	}
	var f manifestFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("parse skill.toml: %w", err)
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	for _, k := range md.Undecoded() {
		// Keys inside the schema tables land in a map and are reported as
		// undecoded, but they belong to the schema, which is checked below.
		if len(k) > 0 && (k[0] == "input_schema" || k[0] == "output_schema") {
			continue
		}
		bad("unknown key %q", k.String())
	}

	m := &Manifest{
		Name:         f.Name,
		Version:      f.Version,
		Description:  f.Description,
		Scopes:       f.Scopes,
		Risk:         f.Risk,
		MaxAttempts:  f.MaxAttempts,
		BudgetMicros: f.BudgetMicros,
		History:      f.History,
		HistoryRuns:  f.HistoryRuns,
		Memory:       f.Memory,
		Keywords:     f.Keywords,
		Routing:      Routing{LocalOnly: f.Routing.LocalOnly, Tiers: f.Routing.Tiers, Models: f.Routing.Models},
		Verify:       Verification{Strategy: f.Verify.Strategy, Model: f.Verify.Model, Council: f.Verify.Council},
	}

	switch {
	case !md.IsDefined("name") || m.Name == "":
		bad("name is required")
	case !ValidName(m.Name):
		bad("name %q must be a lower-case letter followed by up to 62 lower-case letters, digits or hyphens", m.Name)
	}
	switch {
	case !md.IsDefined("version") || m.Version == "":
		bad("version is required")
	case !ValidVersion(m.Version):
		bad("version %q is not a semantic version MAJOR.MINOR.PATCH[-prerelease]", m.Version)
	}
	if strings.TrimSpace(m.Description) == "" {
		bad("description is required")
	}
	for i, s := range m.Scopes {
		if s == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
			bad("scopes[%d] %q must be non-empty and without spaces", i, s)
		}
	}
	switch m.Risk {
	case "":
		m.Risk = RiskLow
	case RiskLow, RiskMedium, RiskHigh, RiskCritical:
	default:
		bad("risk %q must be low, medium, high or critical", m.Risk)
	}
	if !md.IsDefined("max_attempts") {
		m.MaxAttempts = DefaultMaxAttempts
	} else if m.MaxAttempts < 1 || m.MaxAttempts > 10 {
		bad("max_attempts %d must be between 1 and 10", m.MaxAttempts)
	}
	if m.BudgetMicros < 0 {
		bad("budget_micros %d must not be negative", m.BudgetMicros)
	}
	if !md.IsDefined("history_runs") {
		m.HistoryRuns = DefaultHistoryRuns
	} else if m.HistoryRuns < 1 || m.HistoryRuns > 50 {
		bad("history_runs %d must be between 1 and 50", m.HistoryRuns)
	}
	for i, k := range m.Keywords {
		if strings.TrimSpace(k) == "" {
			bad("keywords[%d] is empty", i)
		}
	}
	for i, t := range m.Routing.Tiers {
		if t < 0 || t > 9 {
			bad("routing.tiers[%d] %d must be between 0 and 9", i, t)
		}
	}
	for i, s := range m.Routing.Models {
		if strings.TrimSpace(s) == "" {
			bad("routing.models[%d] is empty", i)
		}
	}

	v := &m.Verify
	switch v.Strategy {
	case "":
		v.Strategy = VerifySchema
	case VerifySchema, VerifyModel, VerifyCouncil, VerifyNone:
	default:
		bad("verify.strategy %q must be schema, model, council or none", v.Strategy)
	}
	// A verifier named under the wrong strategy would silently never run,
	// so it is an error rather than ignored.
	if v.Model != "" && v.Strategy != VerifyModel {
		bad("verify.model is set but verify.strategy is %q, not \"model\"", v.Strategy)
	}
	if len(v.Council) > 0 && v.Strategy != VerifyCouncil {
		bad("verify.council is set but verify.strategy is %q, not \"council\"", v.Strategy)
	}
	if v.Strategy == VerifyModel && v.Model == "" {
		v.Model = DefaultModel
	}
	if v.Strategy == VerifyCouncil {
		for i, s := range v.Council {
			if strings.TrimSpace(s) == "" {
				bad("verify.council[%d] is empty", i)
			}
		}
		if c := slices.Compact(slices.Sorted(slices.Values(v.Council))); len(c) < 2 {
			bad("verify.council must name at least two different models for strategy \"council\"")
		}
	}

	if !md.IsDefined("input_schema") {
		bad("input_schema is required")
	} else if raw, rs, err := compileSchema(f.InputSchema, true); err != nil {
		bad("input_schema: %v", err)
	} else {
		m.InputSchema, m.in = raw, rs
	}
	if !md.IsDefined("output_schema") {
		bad("output_schema is required")
	} else if raw, rs, err := compileSchema(f.OutputSchema, false); err != nil {
		bad("output_schema: %v", err)
	} else {
		m.OutputSchema, m.out = raw, rs
	}

	if len(probs) > 0 {
		return nil, &ManifestError{Problems: probs}
	}
	return m, nil
}

// ID returns "name@version".
func (m *Manifest) ID() string { return m.Name + "@" + m.Version }

// ModelList returns Routing.Models, or ["default"] when it is empty.
func (m *Manifest) ModelList() []string {
	if len(m.Routing.Models) == 0 {
		return []string{DefaultModel}
	}
	return slices.Clone(m.Routing.Models)
}

// quote renders s for an error message.
func quote(s string) string { return strconv.Quote(s) }
