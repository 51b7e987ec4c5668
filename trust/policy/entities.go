package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// This file maps a Request onto Cedar's data model (docs/POLICIES.md, "What
// a policy sees"). It runs on every request, so it builds exactly three
// entities and one context record, and nothing else.

const (
	leaseType    = types.EntityType("Lease")
	resourceType = types.EntityType("Resource")
)

// requestEntities is the entity store for one request: the lease, the action
// (whose parents are its colon prefixes, which is all of the action
// hierarchy) and the resource. A struct with three fields beats building a
// map per request.
type requestEntities struct {
	principal, action, resource types.Entity
}

func (r *requestEntities) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid {
	case r.action.UID:
		return r.action, true
	case r.principal.UID:
		return r.principal, true
	case r.resource.UID:
		return r.resource, true
	}
	return types.Entity{}, false
}

// cedarRequest converts req. It fails on input Cedar cannot represent
// faithfully (a NaN cost, an unsupported Go type in Args); the caller blocks.
// parents are the action's parents (actionParents), cached per action by the caller.
func cedarRequest(req Request, parents types.EntityUIDSet) (cedar.Request, *requestEntities, error) {
	ctx, err := contextRecord(req)
	if err != nil {
		return cedar.Request{}, nil, err
	}
	ents := &requestEntities{
		principal: types.Entity{
			UID: types.NewEntityUID(leaseType, types.String(req.Principal.LeaseID)),
			Attributes: types.NewRecord(types.RecordMap{
				"name":   types.String(req.Principal.Name),
				"agent":  types.String(req.Principal.Agent),
				"scopes": stringSet(req.Principal.Scopes),
			}),
		},
		action: types.Entity{
			UID:     types.NewEntityUID(actionType, types.String(req.Action)),
			Parents: parents,
		},
		resource: types.Entity{
			UID: types.NewEntityUID(resourceType, types.String(req.Resource)),
			Attributes: types.NewRecord(types.RecordMap{
				"kind":  types.String(resourceKind(req)),
				"value": types.String(req.Resource),
			}),
		},
	}
	return cedar.Request{
		Principal: ents.principal.UID,
		Action:    ents.action.UID,
		Resource:  ents.resource.UID,
		Context:   ctx,
	}, ents, nil
}

func actionParents(action string) types.EntityUIDSet {
	prefixes := actionPrefixes(action)
	if len(prefixes) == 0 {
		return types.EntityUIDSet{}
	}
	uids := make([]types.EntityUID, len(prefixes))
	for i, p := range prefixes {
		uids[i] = types.NewEntityUID(actionType, types.String(p))
	}
	return types.NewEntityUIDSet(uids...)
}

// resourceKind says what a resource string is, so policies need not guess
// from its shape: the action's group decides for models, skills and memory;
// a resource that is the tool's own command argument is a command; anything
// with a URL scheme is a url; the rest is a path.
func resourceKind(req Request) string {
	resource := req.Resource
	if resource == "" {
		return "none"
	}
	group, _, _ := strings.Cut(req.Action, ":")
	switch group {
	case "model", "skill", "memory":
		return group
	}
	if cmd, ok := req.Context.Args["command"].(string); ok && cmd == resource {
		return "command"
	}
	if scheme, _, ok := strings.Cut(resource, "://"); ok && isScheme(scheme) {
		return "url"
	}
	return "path"
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func contextRecord(req Request) (types.Record, error) {
	c := req.Context
	micros, err := costMicros(c.CostUSD)
	if err != nil {
		return types.Record{}, err
	}
	args, err := argsRecord(c.Args)
	if err != nil {
		return types.Record{}, fmt.Errorf("args: %w", err)
	}
	t := c.Time
	if t.IsZero() {
		t = time.Now()
	}
	t = t.Local()
	tool, _ := strings.CutPrefix(req.Action, "tool:")
	if tool == req.Action {
		tool = ""
	}
	return types.NewRecord(types.RecordMap{
		"risk":            types.Long(c.Risk),
		"categories":      stringSet(c.Categories),
		"signals":         stringSet(c.Signals),
		"findings":        stringSet(c.Findings),
		"finding_classes": findingClasses(c.Findings),
		"sensitivity":     types.String(c.Sensitivity),
		"args":            args,
		"cost_usd_micros": types.Long(micros),
		"tier":            types.String(c.Tier),
		"hour":            types.Long(t.Hour()),
		"weekday":         types.String(t.Weekday().String()),
		"cwd":             types.String(c.Cwd),
		"tool":            types.String(tool),
	}), nil
}

// costMicros converts dollars to whole millionths, because Cedar has no
// floating point. A cost that is not a finite, non-negative number is an
// error: an estimate that makes no sense must not slip under a threshold.
func costMicros(usd float64) (int64, error) {
	if math.IsNaN(usd) || math.IsInf(usd, 0) || usd < 0 {
		return 0, fmt.Errorf("cost_usd %v is not a finite non-negative number", usd)
	}
	m := math.Round(usd * 1e6)
	if m >= math.MaxInt64 {
		return 0, fmt.Errorf("cost_usd %v is too large", usd)
	}
	return int64(m), nil
}

// emptySet is shared: most requests have no signals or findings, and Cedar
// values are immutable.
var emptySet = types.NewSet()

func stringSet(ss []string) types.Set {
	if len(ss) == 0 {
		return emptySet
	}
	vs := make([]types.Value, len(ss))
	for i, s := range ss {
		vs[i] = types.String(s)
	}
	return types.NewSet(vs...)
}

// findingClasses is the set of finding prefixes ("secret" for
// "secret.aws_access_key"). Cedar cannot match a pattern against the members
// of a set, so "any secret finding" needs this derived set.
func findingClasses(findings []string) types.Set {
	if len(findings) == 0 {
		return emptySet
	}
	vs := make([]types.Value, len(findings))
	for i, f := range findings {
		class, _, _ := strings.Cut(f, ".")
		vs[i] = types.String(class)
	}
	return types.NewSet(vs...)
}

// maxArgsDepth bounds nesting in tool input; deeper input is refused (and so
// blocked) rather than recursed into without limit.
const maxArgsDepth = 64

var emptyRecord = types.NewRecord(nil)

func argsRecord(args map[string]any) (types.Record, error) {
	if len(args) == 0 {
		return emptyRecord, nil
	}
	v, err := cedarValue(args, 0)
	if err != nil {
		return types.Record{}, err
	}
	return v.(types.Record), nil
}

// cedarValue converts decoded JSON (and the Go types a caller is likely to
// build by hand) to a Cedar value:
//
//	string → String, bool → Boolean
//	integer numbers that fit in 64 bits → Long
//	other numbers (fractions, huge values) → String in Go's shortest form ("0.5", "1e+21")
//	arrays → Set (order and duplicates are lost: Cedar sets are sets)
//	objects → Record; null members and null array elements are dropped, so `has` is false
func cedarValue(v any, depth int) (types.Value, error) {
	if depth > maxArgsDepth {
		return nil, errors.New("nested more than 64 levels deep")
	}
	switch v := v.(type) {
	case string:
		return types.String(v), nil
	case bool:
		return types.Boolean(v), nil
	case float64:
		return floatValue(v), nil
	case float32:
		return floatValue(float64(v)), nil
	case int:
		return types.Long(v), nil
	case int8:
		return types.Long(v), nil
	case int16:
		return types.Long(v), nil
	case int32:
		return types.Long(v), nil
	case int64:
		return types.Long(v), nil
	case uint:
		return uintValue(uint64(v)), nil
	case uint8:
		return types.Long(v), nil
	case uint16:
		return types.Long(v), nil
	case uint32:
		return types.Long(v), nil
	case uint64:
		return uintValue(v), nil
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return types.Long(n), nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("bad number %q", string(v))
		}
		return floatValue(f), nil
	case map[string]any:
		m := make(types.RecordMap, len(v))
		for k, e := range v {
			if e == nil {
				continue
			}
			cv, err := cedarValue(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			m[types.String(k)] = cv
		}
		return types.NewRecord(m), nil
	case map[string]string:
		m := make(types.RecordMap, len(v))
		for k, e := range v {
			m[types.String(k)] = types.String(e)
		}
		return types.NewRecord(m), nil
	case []any:
		vs := make([]types.Value, 0, len(v))
		for i, e := range v {
			if e == nil {
				continue
			}
			cv, err := cedarValue(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			vs = append(vs, cv)
		}
		return types.NewSet(vs...), nil
	case []string:
		return stringSet(v), nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

func floatValue(f float64) types.Value {
	// 2^63 is exactly representable; anything at or above it does not fit.
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return types.Long(int64(f))
	}
	return types.String(strconv.FormatFloat(f, 'g', -1, 64))
}

func uintValue(u uint64) types.Value {
	if u > math.MaxInt64 {
		return types.String(strconv.FormatUint(u, 10))
	}
	return types.Long(int64(u))
}
