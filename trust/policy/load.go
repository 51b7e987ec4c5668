package policy

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

//go:embed default.cedar
var defaultPack string

// DefaultPackName is the file name of the built-in pack. A file of that name
// in the policy directory replaces the built-in pack instead of joining it:
// Cedar's forbid always wins, so replacing the pack is the only way to relax
// one of its rules, and it is done in the open (the file is listed, hashed
// and recorded like any other).
const DefaultPackName = "default.cedar"

// DefaultPack returns the text of the built-in policy pack, e.g. for a user
// who wants to copy it into the policy directory and change it.
func DefaultPack() string { return defaultPack }

// Engine holds a validated policy set. It is immutable, so it is safe for
// concurrent use; the kernel reloads by loading a new Engine and swapping a
// pointer, and a request in flight finishes on the set it started with.
type Engine struct {
	files    []source    // sorted by name
	hash     string      // see Hash
	policies []*compiled // file order, then position in the file
	byID     map[cedar.PolicyID]*compiled
	index    actionIndex
}

type source struct{ name, text string }

// kind is how a policy takes part in a decision.
type kind uint8

const (
	kindForbid kind = iota
	kindAsk         // a permit marked @ask
	kindPermit
)

func (k kind) String() string {
	return [...]string{"forbid", "ask", "permit"}[k]
}

// compiled is one policy with what a decision needs to know about it.
type compiled struct {
	id     cedar.PolicyID
	named  bool // id came from @id
	kind   kind
	reason string // @reason, or a generated sentence
	pos    cedar.Position
	policy *cedar.Policy
}

// Problem is one thing wrong with a policy file.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"` // 0 when the position is unknown
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// LoadError lists every problem found in a policy set, in file order. A set
// with problems is never partly loaded.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the built-in pack and every *.cedar file directly inside dir
// (hidden files are skipped: editors leave them behind). A missing dir means
// the built-in pack alone. Every file is checked before anything is returned;
// on any problem Load returns a *LoadError and no engine.
func Load(dir string) (*Engine, error) {
	files := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	for _, ent := range entries {
		name := ent.Name()
		if !strings.HasSuffix(name, ".cedar") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows symlinks
		if err != nil {
			return nil, fmt.Errorf("policy file %s: %w", name, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("policy file %s: %w", name, err)
		}
		files[name] = string(b)
	}
	return LoadSources(files, true)
}

// LoadSources is Load from memory: files maps a name to policy text. With
// withDefaults the built-in pack is added as DefaultPackName unless files
// has a file of that name.
func LoadSources(files map[string]string, withDefaults bool) (*Engine, error) {
	srcs := make([]source, 0, len(files)+1)
	for name, text := range files {
		srcs = append(srcs, source{name, text})
	}
	if _, ok := files[DefaultPackName]; withDefaults && !ok {
		srcs = append(srcs, source{DefaultPackName, defaultPack})
	}
	slices.SortFunc(srcs, func(a, b source) int { return strings.Compare(a.name, b.name) })

	var problems []Problem
	var policies []*compiled
	for _, src := range srcs {
		ps, probs := compileFile(src)
		problems = append(problems, probs...)
		policies = append(policies, ps...)
	}
	problems = append(problems, checkDuplicateIDs(policies)...)
	problems = append(problems, validateAll(policies)...)
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}

	e := &Engine{files: srcs, hash: hashSources(srcs), policies: policies,
		byID: make(map[cedar.PolicyID]*compiled, len(policies))}
	for _, p := range policies {
		e.byID[p.id] = p
	}
	e.index.build(policies)
	return e, nil
}

// inputPos finds the "<input>:LINE:COL" the Cedar parser puts in its errors.
var inputPos = regexp.MustCompile(`(?:parse error at )?<input>:(\d+):(\d+):? ?`)

// parsingText finds the literal in a strconv error.
var parsingText = regexp.MustCompile(`parsing "([^"]+)"`)

// lineColumn converts a byte offset to a 1-based line and column (in runes,
// as the Cedar scanner counts).
func lineColumn(text string, offset int) (line, col int) {
	before := text[:offset]
	line = strings.Count(before, "\n") + 1
	col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// exactGot rewrites the parser's `"x": exact got x want ;` into English.
var exactGot = regexp.MustCompile(`^("(?:[^"\\]|\\.)*"): exact got .* want (.*)$`)

// compileFile parses one file and reads each policy's annotations.
func compileFile(src source) ([]*compiled, []Problem) {
	if p := shapeProblem(src); p != nil {
		return nil, []Problem{*p}
	}
	list, err := parsePolicies(src)
	if err != nil {
		return nil, []Problem{syntaxProblem(src, err)}
	}
	var out []*compiled
	var problems []Problem
	autoIDs := map[string]bool{}
	for _, p := range list {
		pos := p.Position()
		prob := func(format string, args ...any) {
			problems = append(problems, Problem{src.name, pos.Line, pos.Column, fmt.Sprintf(format, args...)})
		}
		ann := p.Annotations()
		c := &compiled{policy: p, pos: pos, kind: kindPermit}
		if p.Effect() == cedar.Forbid {
			c.kind = kindForbid
		}
		if v, ok := ann["ask"]; ok {
			switch {
			case c.kind == kindForbid:
				prob("@ask only applies to permit: a forbid always blocks")
			case v != "":
				prob("write @ask without a value (put the explanation in @reason)")
			default:
				c.kind = kindAsk
			}
		}
		if v, ok := ann["id"]; ok {
			id := string(v)
			switch {
			case strings.TrimSpace(id) == "":
				prob("@id is empty")
			case id == ScopePolicy || id == DefaultPolicy || id == ErrorPolicy:
				prob("@id %q is reserved for decisions no policy made", id)
			}
			c.id, c.named = cedar.PolicyID(id), true
		} else {
			// The line is what a person needs to find the policy; a second
			// policy on the same line also gets its column.
			id := fmt.Sprintf("%s:%d", src.name, pos.Line)
			if autoIDs[id] {
				id = fmt.Sprintf("%s:%d:%d", src.name, pos.Line, pos.Column)
			}
			autoIDs[id] = true
			c.id = cedar.PolicyID(id)
		}
		if v, ok := ann["reason"]; ok && strings.TrimSpace(string(v)) != "" {
			c.reason = string(v)
		} else {
			c.reason = fmt.Sprintf("%s at %s:%d matched", c.kind, src.name, pos.Line)
		}
		out = append(out, c)
	}
	return out, problems
}

// Limits on the shape of a policy file. Cedar's parser, validator and
// evaluator are recursive; a few hundred thousand nested parentheses exhaust
// the goroutine stack, which is a fatal error no recover can catch. Real
// policies nest a handful of levels deep.
const (
	maxFileBytes = 4 << 20
	maxNesting   = 1000 // brackets plus runs of unary operators
	maxIfs       = 1000 // if-expressions per policy, however nested
)

// shapeProblem checks the limits with a scan that understands just enough
// Cedar — strings and comments — not to be fooled by brackets inside them.
func shapeProblem(src source) *Problem {
	text := src.text
	if len(text) > maxFileBytes {
		return &Problem{File: src.name, Message: fmt.Sprintf("file is %d bytes; the limit is %d", len(text), maxFileBytes)}
	}
	depth, unary, ifs := 0, 0, 0
	at := func(i int, msg string) *Problem {
		line, col := lineColumn(text, i)
		return &Problem{src.name, line, col, msg}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '"':
			for i++; i < len(text) && text[i] != '"'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
			unary = 0
		case c == '/' && i+1 < len(text) && text[i+1] == '/':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
			unary = 0
		case c == '!' || c == '-':
			unary++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case c == ';':
			ifs, unary = 0, 0
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(text) && (text[j] == '_' || text[j] >= 'a' && text[j] <= 'z' || text[j] >= 'A' && text[j] <= 'Z' || text[j] >= '0' && text[j] <= '9') {
				j++
			}
			if text[i:j] == "if" {
				if ifs++; ifs > maxIfs {
					return at(i, fmt.Sprintf("more than %d if-expressions in one policy", maxIfs))
				}
			}
			i, unary = j-1, 0
		default:
			unary = 0
		}
		if depth+unary > maxNesting {
			return at(i, fmt.Sprintf("expression nested more than %d levels deep", maxNesting))
		}
	}
	return nil
}

// parsePolicies wraps the Cedar parser; it has been seen to panic on some
// malformed input in the past, and a bad file must be an error, not a crash.
func parsePolicies(src source) (list cedar.PolicyList, err error) {
	defer func() {
		if r := recover(); r != nil {
			list, err = nil, fmt.Errorf("the Cedar parser failed: %v", r)
		}
	}()
	return cedar.NewPolicyListFromBytes(src.name, []byte(src.text))
}

// syntaxProblem turns a Cedar parse error into file:line:column form.
func syntaxProblem(src source, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "parser error: ")
	p := Problem{File: src.name}
	if m := inputPos.FindStringSubmatchIndex(msg); m != nil {
		p.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		p.Column, _ = strconv.Atoi(msg[m[4]:m[5]])
		msg = msg[:m[0]] + msg[m[1]:]
	} else if m := parsingText.FindStringSubmatch(msg); m != nil {
		// A few errors (an integer literal out of range) come without a
		// position; the literal they quote is found in the text instead.
		if i := strings.Index(src.text, m[1]); i >= 0 {
			p.Line, p.Column = lineColumn(src.text, i)
		}
	}
	if m := exactGot.FindStringSubmatch(msg); m != nil {
		found := m[1]
		if found == `""` {
			found = "the end of the file"
		}
		msg = fmt.Sprintf("expected %q, found %s", m[2], found)
	}
	p.Message = "syntax error: " + msg
	return p
}

func checkDuplicateIDs(policies []*compiled) []Problem {
	var problems []Problem
	seen := map[cedar.PolicyID]*compiled{}
	for _, p := range policies {
		if other, ok := seen[p.id]; ok {
			at := p
			if at.pos.Filename == DefaultPackName {
				// Point at the user's file, which is the one to change.
				at, other = other, at
			}
			problems = append(problems, Problem{at.pos.Filename, at.pos.Line, at.pos.Column,
				fmt.Sprintf("duplicate policy id %q (also used at %s:%d:%d)", p.id, other.pos.Filename, other.pos.Line, other.pos.Column)})
			continue
		}
		seen[p.id] = p
	}
	return problems
}

// hashSources is SHA-256 over the files in name order, each written as
// netstrings "len(name):name,len(text):text," so no two sets collide by
// moving bytes between a name and a text.
func hashSources(srcs []source) string {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%d:%s,%d:%s,", len(s.name), s.name, len(s.text), s.text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Hash is the SHA-256 (hex) of the policy files in force; the kernel records
// it in the ledger whenever it changes.
func (e *Engine) Hash() string { return e.hash }

// Files lists the names of the policy files in force, sorted.
func (e *Engine) Files() []string {
	names := make([]string, len(e.files))
	for i, f := range e.files {
		names[i] = f.name
	}
	return names
}

// PolicyInfo describes one policy in force, for listings and explanations.
type PolicyInfo struct {
	ID     string `json:"id"`
	Effect string `json:"effect"` // "forbid", "ask" or "permit"
	Reason string `json:"reason"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Policies lists the policies in force in evaluation order.
func (e *Engine) Policies() []PolicyInfo {
	out := make([]PolicyInfo, len(e.policies))
	for i, p := range e.policies {
		out[i] = p.info()
	}
	return out
}

func (p *compiled) info() PolicyInfo {
	return PolicyInfo{string(p.id), p.kind.String(), p.reason, p.pos.Filename, p.pos.Line, p.pos.Column}
}

// The action index. A policy whose scope says `action == Action::"X"` can
// only be satisfied by action X, and `action in Action::"G"` only by G or an
// action that has G as a colon prefix (that is the whole action hierarchy,
// see entities.go). So per action only a few buckets of policies need
// evaluating — with 1,000 policies that is most of the speed.
type actionIndex struct {
	always []int            // no action constraint, or one the index does not understand
	eq     map[string][]int // action == X
	in     map[string][]int // action in X, action in [.., X, ..]

	cache     sync.Map // action → *actionInfo
	cacheSize atomic.Int64
}

// maxCachedActions bounds the per-action cache: actions are open-ended
// (model ids, MCP tools), and past the bound candidates are computed per call.
const maxCachedActions = 4096

func (ix *actionIndex) build(policies []*compiled) {
	ix.eq, ix.in = map[string][]int{}, map[string][]int{}
	for i, p := range policies {
		switch sc := p.policy.AST().Action.(type) {
		case xast.ScopeTypeAll:
			ix.always = append(ix.always, i)
		case xast.ScopeTypeEq:
			if sc.Entity.Type != actionType {
				ix.always = append(ix.always, i)
				continue
			}
			ix.eq[string(sc.Entity.ID)] = append(ix.eq[string(sc.Entity.ID)], i)
		case xast.ScopeTypeIn:
			if sc.Entity.Type != actionType {
				ix.always = append(ix.always, i)
				continue
			}
			ix.in[string(sc.Entity.ID)] = append(ix.in[string(sc.Entity.ID)], i)
		case xast.ScopeTypeInSet:
			for _, ent := range sc.Entities {
				if ent.Type != actionType {
					ix.always = append(ix.always, i)
					break
				}
			}
			for _, ent := range sc.Entities {
				if ent.Type == actionType {
					ix.in[string(ent.ID)] = append(ix.in[string(ent.ID)], i)
				}
			}
		default:
			ix.always = append(ix.always, i)
		}
	}
}

// actionInfo is what a decision needs about its action that depends only on
// the action string: the candidate policies and the action's parents.
type actionInfo struct {
	candidates []*compiled // in evaluation order
	parents    types.EntityUIDSet
}

// action returns the actionInfo for a valid action, from the cache when it can.
func (e *Engine) action(action string) *actionInfo {
	ix := &e.index
	if c, ok := ix.cache.Load(action); ok {
		return c.(*actionInfo)
	}
	idx := slices.Clone(ix.always)
	idx = append(idx, ix.eq[action]...)
	idx = append(idx, ix.in[action]...)
	for i := range len(action) {
		if action[i] == ':' {
			idx = append(idx, ix.in[action[:i]]...)
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	info := &actionInfo{candidates: make([]*compiled, len(idx)), parents: actionParents(action)}
	for i, j := range idx {
		info.candidates[i] = e.policies[j]
	}
	if ix.cacheSize.Load() < maxCachedActions {
		if _, loaded := ix.cache.LoadOrStore(action, info); !loaded {
			ix.cacheSize.Add(1)
		}
	}
	return info
}

// policyIter lets cedar.Authorize walk a candidate list in order, so reasons
// come out in file order rather than Go's random map order.
type policyIter []*compiled

func (l policyIter) All() iter.Seq2[types.PolicyID, *cedar.Policy] {
	return func(yield func(types.PolicyID, *cedar.Policy) bool) {
		for _, p := range l {
			if !yield(p.id, p.policy) {
				return
			}
		}
	}
}
