package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names.
const (
	ToolMemorySearch      = "memory_search"
	ToolMemoryAddEvidence = "memory_add_evidence"
	ToolMemoryCanon       = "memory_canon"
	ToolSkillRun          = "skill_run"
	ToolSkillList         = "skill_list"
)

// MaxSearchLimit is the largest limit memory_search accepts.
const MaxSearchLimit = 100

// ServerName is the name the server gives in its MCP implementation info.
const ServerName = "mirror"

// instructions tell the model what the server is for.
const instructions = `MirrorOS is the user's local AI kernel. Its memory holds evidence (immutable, content-addressed records of what was observed: notes, files, conversation turns, run outputs) and claims derived from that evidence; the canon is the set of claims memory holds as established.

Search memory (memory_search) before answering questions about the user, their preferences, projects or past decisions, and cite the ids of what you rely on: claim ids and "sha256:…" evidence ids. Read memory_canon for the complete set of established claims. Store things worth remembering with memory_add_evidence.

Skills are governed programs the kernel runs: list them with skill_list, run one with skill_run.

Every call is authorized by your lease, decided by the kernel's policy and recorded in its ledger. A refusal comes back as a tool error that says why; do not retry a denied call unchanged.`

// Tool inputs, as models fill them in. Times are strings so that a bad one
// gets a clear error rather than a decoding failure.

type searchInput struct {
	Query   string `json:"query" jsonschema:"What to look for: a question, a phrase or keywords."`
	AsOf    string `json:"as_of,omitempty" jsonschema:"Search memory as it was recorded at this moment (RFC 3339, e.g. 2025-03-01T00:00:00Z, or a date 2025-03-01). Omit for now."`
	ValidAt string `json:"valid_at,omitempty" jsonschema:"Keep only what was true at this moment (RFC 3339 or a date). Omit for no restriction."`
	Limit   int    `json:"limit,omitempty" jsonschema:"Most results to return. Omit for the kernel's default."`
	Kind    string `json:"kind,omitempty" jsonschema:"Only results of this kind: a claim kind (fact, preference, identity, event, other) or an evidence kind (text, file, turn, run_output). Omit for all."`
}

type evidenceInput struct {
	Content    string `json:"content" jsonschema:"The evidence itself: the note, document text, conversation turn or output, verbatim."`
	Kind       string `json:"kind,omitempty" jsonschema:"What the content is. Defaults to text."`
	Source     string `json:"source,omitempty" jsonschema:"Where it came from: a URL, a file path, a conversation or an agent name."`
	MediaType  string `json:"media_type,omitempty" jsonschema:"The content's media type, e.g. text/markdown or application/json. Omit for plain text."`
	ObservedAt string `json:"observed_at,omitempty" jsonschema:"When it was observed (RFC 3339 or a date). Omit for now."`
}

type canonInput struct {
	Version int `json:"version,omitempty" jsonschema:"The canon version to read. Omit or 0 for the latest."`
}

type runInput struct {
	Skill  string         `json:"skill" jsonschema:"The skill to run: a name, or name@version, as skill_list shows."`
	Inputs map[string]any `json:"inputs,omitempty" jsonschema:"The skill's inputs, an object matching its input schema."`
	Goal   string         `json:"goal,omitempty" jsonschema:"What the run is for, in one sentence; recorded with the run."`
}

type listInput struct{}

// SkillList is the structured result of skill_list.
type SkillList struct {
	Skills []SkillInfo `json:"skills"`
}

// schemaCache is shared by every server, so that building one per HTTP
// request does not infer or resolve schemas again.
var schemaCache = mcp.NewSchemaCache()

type toolSchemas struct {
	searchIn, evidenceIn, canonIn, runIn, listIn, runOut *jsonschema.Schema
}

var schemas = sync.OnceValue(func() *toolSchemas {
	ts := &toolSchemas{
		searchIn:   schemaFor[searchInput](),
		evidenceIn: schemaFor[evidenceInput](),
		canonIn:    schemaFor[canonInput](),
		runIn:      schemaFor[runInput](),
		listIn:     schemaFor[listInput](),
		runOut:     schemaFor[SkillRunResult](),
	}
	ts.searchIn.Properties["query"].MinLength = jsonschema.Ptr(1)
	ts.searchIn.Properties["limit"].Minimum = jsonschema.Ptr(1.0)
	ts.searchIn.Properties["limit"].Maximum = jsonschema.Ptr(float64(MaxSearchLimit))
	ts.evidenceIn.Properties["content"].MinLength = jsonschema.Ptr(1)
	kinds := make([]any, len(EvidenceKinds))
	for i, k := range EvidenceKinds {
		kinds[i] = k
	}
	ts.evidenceIn.Properties["kind"].Enum = kinds
	ts.canonIn.Properties["version"].Minimum = jsonschema.Ptr(0.0)
	ts.runIn.Properties["skill"].MinLength = jsonschema.Ptr(1)
	return ts
})

// schemaFor infers the schema of T; a json.RawMessage may hold any JSON.
func schemaFor[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](&jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[json.RawMessage](): {},
	}})
	if err != nil {
		panic(fmt.Sprintf("mcpserver: schema of %T: %v", *new(T), err))
	}
	return s
}

func boolPtr(b bool) *bool { return &b }

// New returns an MCP server whose tools call b. version is the server
// version it reports to clients.
func New(b Backend, version string) *mcp.Server {
	ts := schemas()
	s := mcp.NewServer(&mcp.Implementation{Name: ServerName, Title: "MirrorOS", Version: version}, &mcp.ServerOptions{
		Instructions: instructions,
		SchemaCache:  schemaCache,
	})
	h := &handlers{b: b}

	mcp.AddTool(s, &mcp.Tool{
		Name: ToolMemorySearch,
		Description: `Search the user's MirrorOS memory: the claims it believes about the user and their world, and the stored evidence (notes, documents, conversation turns, run outputs). Use it before answering anything that depends on the user's facts, preferences, projects or past decisions.

Results are ranked, best first. A claim has a status: "canon" (established: corroborated or verified), "candidate" (believed, not yet corroborated) or "demoted" (no longer believed; do not rely on it). Each claim lists the ids of the evidence it cites. When you use a result, cite its id.

as_of asks what memory had recorded at a past moment; valid_at asks what was true at a moment.`,
		InputSchema: ts.searchIn,
		Annotations: &mcp.ToolAnnotations{Title: "Search memory", ReadOnlyHint: true, OpenWorldHint: boolPtr(false)},
	}, h.search)

	mcp.AddTool(s, &mcp.Tool{
		Name: ToolMemoryAddEvidence,
		Description: `Store something observed as evidence in the user's MirrorOS memory: a note, a document's text, a conversation turn or a run's output. Evidence is immutable and content-addressed: its id is "sha256:" and the SHA-256 of the content, and storing the same content again returns the same id with created=false. Claims are derived from evidence by the kernel; this tool does not assert claims.

Store only what the user would want remembered, verbatim, and say where it came from in source.`,
		InputSchema: ts.evidenceIn,
		Annotations: &mcp.ToolAnnotations{Title: "Add evidence to memory", IdempotentHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)},
	}, h.addEvidence)

	mcp.AddTool(s, &mcp.Tool{
		Name: ToolMemoryCanon,
		Description: `Read the canon: the claims MirrorOS memory holds as established about the user, each with its kind, confidence and the evidence it cites. The canon is versioned and hashed; omit version for the latest, or give a number to read a past version.

Use it for the complete picture (e.g. at the start of a task); use memory_search to find specific things.`,
		InputSchema: ts.canonIn,
		Annotations: &mcp.ToolAnnotations{Title: "Read the canon", ReadOnlyHint: true, OpenWorldHint: boolPtr(false)},
	}, h.canon)

	mcp.AddTool(s, &mcp.Tool{
		Name: ToolSkillRun,
		Description: `Run one of the kernel's skills and wait for it to end. Call skill_list first to find the skill; inputs must match its input schema.

The run is governed: the kernel's policy may refuse it or hold it for the owner's approval, and it is recorded in the ledger with a signed provenance note. The result has the run's id, its state (succeeded, failed or cancelled; running or waiting_approval if the kernel stopped waiting first) and its output as JSON. A failed or cancelled run is reported as a tool error with the reason.`,
		InputSchema:  ts.runIn,
		OutputSchema: ts.runOut,
		Annotations:  &mcp.ToolAnnotations{Title: "Run a skill", DestructiveHint: boolPtr(true), OpenWorldHint: boolPtr(true)},
	}, h.runSkill)

	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolSkillList,
		Description: `List the skills this MirrorOS kernel can run: name, version, description and status ("stable", "canary": newly installed and still being verified, or "demoted": unreliable). Use it before skill_run.`,
		InputSchema: ts.listIn,
		Annotations: &mcp.ToolAnnotations{Title: "List skills", ReadOnlyHint: true, OpenWorldHint: boolPtr(false)},
	}, h.listSkills)

	return s
}

// handlers are the tools' handlers over one backend.
type handlers struct {
	b Backend
}

func (h *handlers) search(ctx context.Context, _ *mcp.CallToolRequest, in searchInput) (*mcp.CallToolResult, SearchResult, error) {
	q := SearchQuery{Query: strings.TrimSpace(in.Query), Limit: in.Limit, Kind: strings.TrimSpace(in.Kind)}
	if q.Query == "" {
		return nil, SearchResult{}, errors.New("query must not be empty")
	}
	var err error
	if q.AsOf, err = parseTime("as_of", in.AsOf); err != nil {
		return nil, SearchResult{}, err
	}
	if q.ValidAt, err = parseTime("valid_at", in.ValidAt); err != nil {
		return nil, SearchResult{}, err
	}
	res, err := h.b.SearchMemory(ctx, q)
	if err != nil {
		return nil, SearchResult{}, toolError(ctx, err)
	}
	if res.Results == nil {
		res.Results = []SearchHit{}
	}
	return textResult(renderSearch(q.Query, res)), res, nil
}

func (h *handlers) addEvidence(ctx context.Context, _ *mcp.CallToolRequest, in evidenceInput) (*mcp.CallToolResult, EvidenceResult, error) {
	if in.Content == "" {
		return nil, EvidenceResult{}, errors.New("content must not be empty")
	}
	e := EvidenceInput{Content: in.Content, Kind: in.Kind, Source: in.Source, MediaType: in.MediaType}
	if e.Kind == "" {
		e.Kind = EvidenceText
	}
	var err error
	if e.ObservedAt, err = parseTime("observed_at", in.ObservedAt); err != nil {
		return nil, EvidenceResult{}, err
	}
	res, err := h.b.AddEvidence(ctx, e)
	if err != nil {
		return nil, EvidenceResult{}, toolError(ctx, err)
	}
	text := "Stored evidence " + res.ID + "."
	if !res.Created {
		text = "Evidence " + res.ID + " was already stored; nothing changed."
	}
	return textResult(text), res, nil
}

func (h *handlers) canon(ctx context.Context, _ *mcp.CallToolRequest, in canonInput) (*mcp.CallToolResult, CanonResult, error) {
	if in.Version < 0 {
		return nil, CanonResult{}, errors.New("version must not be negative")
	}
	res, err := h.b.Canon(ctx, in.Version)
	if err != nil {
		return nil, CanonResult{}, toolError(ctx, err)
	}
	if res.Claims == nil {
		res.Claims = []CanonClaim{}
	}
	return textResult(renderCanon(res)), res, nil
}

func (h *handlers) runSkill(ctx context.Context, _ *mcp.CallToolRequest, in runInput) (*mcp.CallToolResult, SkillRunResult, error) {
	r := SkillRun{Skill: strings.TrimSpace(in.Skill), Inputs: in.Inputs, Goal: in.Goal}
	if r.Skill == "" {
		return nil, SkillRunResult{}, errors.New("skill must not be empty: call skill_list to find one")
	}
	res, err := h.b.RunSkill(ctx, r)
	if err != nil {
		return nil, SkillRunResult{}, toolError(ctx, err)
	}
	out := textResult(renderRun(r.Skill, res))
	out.IsError = res.State == RunFailed || res.State == RunCancelled
	return out, res, nil
}

func (h *handlers) listSkills(ctx context.Context, _ *mcp.CallToolRequest, _ listInput) (*mcp.CallToolResult, SkillList, error) {
	skills, err := h.b.ListSkills(ctx)
	if err != nil {
		return nil, SkillList{}, toolError(ctx, err)
	}
	if skills == nil {
		skills = []SkillInfo{}
	}
	return textResult(renderSkills(skills)), SkillList{Skills: skills}, nil
}

// toolError passes a backend's error on, to be reported as a tool error,
// unless the call was cancelled: that ends the request with a protocol
// error instead.
func toolError(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "request cancelled: " + err.Error()}
	}
	return err
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// parseTime reads an RFC 3339 time or a date (UTC); "" is the zero time.
func parseTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time such as 2025-03-01T12:00:00Z or a date such as 2025-03-01", field, s)
}

// indent puts pad before every line of s but the first.
func indent(s, pad string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

func renderSearch(query string, res SearchResult) string {
	if len(res.Results) == 0 {
		return fmt.Sprintf("Nothing in memory matches %q.", query)
	}
	var b strings.Builder
	n := "results"
	if len(res.Results) == 1 {
		n = "result"
	}
	fmt.Fprintf(&b, "%d %s for %q:\n", len(res.Results), n, query)
	for i, r := range res.Results {
		num := fmt.Sprintf("%d. ", i+1)
		pad := strings.Repeat(" ", len(num))
		meta := []string{}
		if r.Status != "" {
			meta = append(meta, r.Status)
		}
		meta = append(meta, fmt.Sprintf("score %.3g", r.Score))
		if r.ValidAt != "" {
			meta = append(meta, "valid from "+r.ValidAt)
		}
		if r.InvalidAt != "" {
			meta = append(meta, "invalid from "+r.InvalidAt)
		}
		fmt.Fprintf(&b, "%s%s %s [%s]\n", num, r.Type, r.ID, strings.Join(meta, ", "))
		fmt.Fprintf(&b, "%s%s\n", pad, indent(r.Text, pad))
		if len(r.Evidence) > 0 {
			fmt.Fprintf(&b, "%sevidence: %s\n", pad, strings.Join(r.Evidence, ", "))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func renderCanon(c CanonResult) string {
	if len(c.Claims) == 0 {
		if c.Version == 0 {
			return "The canon is empty: no claim has been established yet."
		}
		return fmt.Sprintf("Canon version %d (%s) has no claims.", c.Version, c.Hash)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Canon version %d (%s), %d claims", c.Version, c.Hash, len(c.Claims))
	if c.CreatedAt != "" {
		fmt.Fprintf(&b, ", compiled %s", c.CreatedAt)
	}
	b.WriteString(":\n")
	for i, cl := range c.Claims {
		num := fmt.Sprintf("%d. ", i+1)
		pad := strings.Repeat(" ", len(num))
		fmt.Fprintf(&b, "%s[%s] %s\n", num, cl.Kind, indent(cl.Statement, pad))
		meta := []string{"id " + cl.ID}
		if cl.Subject != "" {
			meta = append(meta, "subject "+cl.Subject)
		}
		meta = append(meta, fmt.Sprintf("confidence %.2f", cl.Confidence))
		if cl.ValidAt != "" {
			meta = append(meta, "valid from "+cl.ValidAt)
		}
		fmt.Fprintf(&b, "%s%s\n", pad, strings.Join(meta, ", "))
		if len(cl.Evidence) > 0 {
			fmt.Fprintf(&b, "%sevidence: %s\n", pad, strings.Join(cl.Evidence, ", "))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func renderRun(skill string, r SkillRunResult) string {
	var b strings.Builder
	switch r.State {
	case RunSucceeded:
		fmt.Fprintf(&b, "Run %s of %s succeeded.", r.ID, skill)
	case RunFailed, RunCancelled:
		fmt.Fprintf(&b, "Run %s of %s %s", r.ID, skill, r.State)
		if r.Error != "" {
			fmt.Fprintf(&b, ": %s", r.Error)
		}
		b.WriteString(".")
	case RunWaiting:
		fmt.Fprintf(&b, "Run %s of %s is waiting for the owner's approval; it will go on once approved.", r.ID, skill)
	default:
		fmt.Fprintf(&b, "Run %s of %s is still %s; the kernel stopped waiting for it.", r.ID, skill, r.State)
	}
	if out := prettyJSON(r.Output); out != "" {
		fmt.Fprintf(&b, "\n\nOutput:\n%s", out)
	}
	if r.Provenance != "" {
		fmt.Fprintf(&b, "\n\nProvenance:\n%s", strings.TrimRight(r.Provenance, "\n"))
	}
	return b.String()
}

// prettyJSON indents raw JSON; a JSON string is shown as its text.
func prettyJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

func renderSkills(skills []SkillInfo) string {
	if len(skills) == 0 {
		return "The kernel has no skills installed."
	}
	var b strings.Builder
	n := "skills"
	if len(skills) == 1 {
		n = "skill"
	}
	fmt.Fprintf(&b, "%d %s:\n", len(skills), n)
	for _, s := range skills {
		fmt.Fprintf(&b, "- %s@%s", s.Name, s.Version)
		if s.Status != "" {
			fmt.Fprintf(&b, " (%s)", s.Status)
		}
		if s.Description != "" {
			fmt.Fprintf(&b, ": %s", indent(s.Description, "  "))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
