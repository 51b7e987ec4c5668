package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scope patterns
//
// A capability ("tool:Bash", "model:chat:ollama/llama3") is a list of
// colon-separated segments. A lease holds patterns over capabilities:
//
//	tool:Bash            exactly that capability
//	tool:*:read          "*" matches exactly one segment …
//	tool:*               … except as the last segment, where it matches one or more
//	*                    everything
//	model:chat:ollama/*  a segment ending in "/*" matches any segment with that
//	                     prefix and at least one more character
//
// A wildcard in the last position ("*" or "prefix/*") also matches any further
// segments. For "*" that is the grammar's "one or more remaining segments";
// for "prefix/*" it is what keeps "model:chat:ollama/*" covering
// "model:chat:ollama/llama3:8b" — model tags contain colons, and a pattern
// that silently stopped matching tagged models would be a trap.
//
// Everything else matches exactly and case-sensitively. Patterns are small,
// so matching walks the strings without allocating: it runs on every request.

// maxScopeLen bounds a pattern. Real capabilities are a few dozen bytes; the
// bound keeps a hostile lease request from storing megabytes per scope.
const maxScopeLen = 512

// ValidScope checks a pattern against the grammar and says what is wrong in a
// sentence that names the offending segment.
func ValidScope(pattern string) error {
	if pattern == "" {
		return errors.New("scope is empty")
	}
	if len(pattern) > maxScopeLen {
		return fmt.Errorf("scope is %d bytes long; the limit is %d", len(pattern), maxScopeLen)
	}
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c > ' ' && c < 0x7f {
			continue // the common case, checked without decoding runes
		}
		r, _ := utf8.DecodeRuneInString(pattern[i:])
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("scope contains %q; only printable characters without spaces are allowed", r)
		}
		i += utf8.RuneLen(r) - 1
	}
	n := 0
	for seg := range strings.SplitSeq(pattern, ":") {
		n++
		if seg == "" {
			return fmt.Errorf("segment %d is empty (two colons in a row, or a leading or trailing colon)", n)
		}
		if seg == "*" {
			continue
		}
		body := strings.TrimSuffix(seg, "/*")
		if body == "" {
			return fmt.Errorf(`segment %d (%q) needs a prefix before "/*", e.g. "ollama/*"`, n, seg)
		}
		if strings.Contains(body, "*") {
			return fmt.Errorf(`segment %d (%q): "*" must be a whole segment, or end a segment as "prefix/*"`, n, seg)
		}
	}
	return nil
}

// validAction reports whether s is a concrete capability: non-empty segments
// and no wildcard. A malformed action is never covered, so a request cannot
// smuggle a pattern in as its action.
func validAction(s string) bool {
	if s == "" || strings.Contains(s, "*") {
		return false
	}
	for seg := range strings.SplitSeq(s, ":") {
		if seg == "" {
			return false
		}
	}
	return true
}

// segKind classifies one pattern segment.
type segKind uint8

const (
	segLiteral segKind = iota
	segStar            // "*"
	segPrefix          // "prefix/*"
)

func kindOf(seg string) segKind {
	switch {
	case seg == "*":
		return segStar
	case strings.HasSuffix(seg, "/*"):
		return segPrefix
	default:
		return segLiteral
	}
}

// segMatches reports whether one valid pattern segment matches one action segment.
func segMatches(pseg, aseg string) bool {
	switch kindOf(pseg) {
	case segStar:
		return true
	case segPrefix:
		prefix := pseg[:len(pseg)-1] // keep the "/"
		return len(aseg) > len(prefix) && strings.HasPrefix(aseg, prefix)
	default:
		return pseg == aseg
	}
}

// ScopeCovers reports whether pattern covers action. An invalid pattern or a
// malformed action covers or is covered by nothing.
func ScopeCovers(pattern, action string) bool {
	if !validAction(action) || ValidScope(pattern) != nil {
		return false
	}
	p, a := pattern, action
	for {
		pseg, prest, pmore := strings.Cut(p, ":")
		aseg, arest, amore := strings.Cut(a, ":")
		if !segMatches(pseg, aseg) {
			return false
		}
		if !pmore && kindOf(pseg) != segLiteral {
			return true // a trailing wildcard takes the rest
		}
		if !pmore || !amore {
			return pmore == amore
		}
		p, a = prest, arest
	}
}

// ScopesCover reports whether any of the patterns covers action.
func ScopesCover(patterns []string, action string) bool {
	for _, p := range patterns {
		if ScopeCovers(p, action) {
			return true
		}
	}
	return false
}

// PatternCovers reports whether pattern a covers every action pattern b can
// match; lease attenuation requires each of a child's patterns to be covered
// by one of its parent's. The answer is exact — never true when b matches
// something a does not, and never false otherwise — because every segment
// matches at least one value and patterns are products of segment sets (see
// the exhaustive test). Invalid patterns cover and are covered by nothing.
func PatternCovers(a, b string) bool {
	if ValidScope(a) != nil || ValidScope(b) != nil {
		return false
	}
	as, bs := strings.Split(a, ":"), strings.Split(b, ":")
	aOpen := kindOf(as[len(as)-1]) != segLiteral
	bOpen := kindOf(bs[len(bs)-1]) != segLiteral
	if aOpen {
		// a fixes its first len(as) segments and takes anything after.
		if len(bs) < len(as) {
			return false
		}
	} else if bOpen || len(as) != len(bs) {
		// A closed a matches one length only; an open b matches many.
		return false
	}
	for i := range as {
		if !segCovers(as[i], bs[i]) {
			return false
		}
	}
	return true
}

// segCovers reports whether every segment pattern segment b matches is also
// matched by a.
func segCovers(a, b string) bool {
	switch kindOf(a) {
	case segStar:
		return true
	case segLiteral:
		return a == b
	}
	prefix := a[:len(a)-1]
	switch kindOf(b) {
	case segStar:
		return false
	case segPrefix:
		return strings.HasPrefix(b[:len(b)-1], prefix)
	default:
		return len(b) > len(prefix) && strings.HasPrefix(b, prefix)
	}
}
