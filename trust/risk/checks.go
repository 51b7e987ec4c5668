package risk

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
)

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isKeyChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// bounded reports whether text[start:end] is a whole token: the bytes
// around it are not token bytes.
func bounded(text string, start, end int, tok func(byte) bool) bool {
	return (start == 0 || !tok(text[start-1])) && (end >= len(text) || !tok(text[end]))
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

type charClasses struct{ upper, lower, digit bool }

func classes(s string) charClasses {
	var c charClasses
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'A' && b <= 'Z':
			c.upper = true
		case b >= 'a' && b <= 'z':
			c.lower = true
		case b >= '0' && b <= '9':
			c.digit = true
		}
	}
	return c
}

// tokenCheck accepts a whole token whose entropy rules out placeholders
// such as ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.
func tokenCheck(tok func(byte) bool, minEntropy float64) func(string, int, int) bool {
	return func(text string, start, end int) bool {
		return bounded(text, start, end, tok) && entropy(text[start:end]) >= minEntropy
	}
}

func checkJWT(text string, start, end int) bool {
	if !bounded(text, start, end, func(c byte) bool { return isKeyChar(c) || c == '.' }) {
		return false
	}
	header, _, _ := strings.Cut(text[start:end], ".")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(header, "="))
	if err != nil {
		return false
	}
	var h map[string]any
	if json.Unmarshal(raw, &h) != nil {
		return false
	}
	alg, ok := h["alg"].(string)
	return ok && alg != ""
}

func checkOpenAI(text string, start, end int) bool {
	v := text[start:end]
	if !bounded(text, start, end, isKeyChar) || strings.HasPrefix(v, "sk-ant-") {
		return false
	}
	// Legacy keys carry "T3BlbkFJ", base64 for "OpenAI".
	if strings.Contains(v, "T3BlbkFJ") {
		return true
	}
	body := v[len("sk-"):]
	for _, p := range []string{"proj-", "svcacct-", "admin-", "None-"} {
		body = strings.TrimPrefix(body, p)
	}
	c := classes(body)
	return len(body) >= 32 && c.upper && c.lower && c.digit && entropy(body) >= 4.0
}

func checkAWSKeyID(text string, start, end int) bool {
	v := text[start:end]
	return bounded(text, start, end, isAlnum) && !strings.Contains(v, "EXAMPLE") && entropy(v[4:]) >= 2.5
}

func checkAWSSecret(text string, start, end int) bool {
	v := text[start:end]
	if end < len(text) && (isAlnum(text[end]) || strings.IndexByte("/+=", text[end]) >= 0) {
		return false
	}
	c := classes(v)
	n := 0
	for _, b := range []bool{c.upper, c.lower, c.digit} {
		if b {
			n++
		}
	}
	return !strings.Contains(v, "EXAMPLE") && n >= 2 && entropy(v) >= 4.0
}

// placeholders are values that stand for a password without being one.
var placeholders = map[string]bool{
	"password": true, "passwd": true, "passphrase": true, "secret": true, "changeme": true,
	"change_me": true, "changeit": true, "example": true, "null": true, "none": true, "nil": true,
	"true": true, "false": true, "undefined": true, "string": true, "str": true, "required": true,
	"optional": true, "your_password": true, "yourpassword": true, "your-password": true,
	"mypassword": true, "redacted": true, "hidden": true, "dummy": true, "test": true, "foo": true,
	"bar": true, "placeholder": true, "empty": true, "masked": true, "<password>": true,
	"password123": true, "admin": true, "root": true, "user": true, "pass": true, "secret123": true,
	"todo": true, "xxx": true, "tbd": true, "env": true, "value": true, "text": true, "bool": true,
	"int": true, "any": true, "object": true, "default": true, "prompt": true, "input": true,
}

// passwordValue picks the value span of a password assignment match and
// decides whether it is a real, non-trivial value rather than a variable,
// a type, a template or a placeholder.
func passwordValue(text string, m []int) (int, int, bool) {
	key := text[m[2]:m[3]]
	sep := text[m[4]:m[5]]
	if m[5] < len(text) && text[m[5]] == '=' {
		return 0, 0, false // a comparison: password == x
	}
	quoted := true
	var start, end int
	switch {
	case m[6] >= 0:
		start, end = m[6], m[7]
	case m[8] >= 0:
		start, end = m[8], m[9]
	case m[10] >= 0:
		start, end = m[10], m[11]
		quoted = false
	default:
		return 0, 0, false
	}
	v := text[start:end]
	lv := strings.ToLower(v)
	if len(v) < 4 || placeholders[lv] || allSame(v) {
		return 0, 0, false
	}
	if strings.ContainsAny(v[:1], "$%<!|>&*{") || strings.Contains(v, "${") || strings.Contains(v, "{{") ||
		strings.Contains(v, "%s") || strings.Contains(v, "%(") || strings.HasPrefix(lv, "your") ||
		strings.HasPrefix(lv, "xxx") || strings.HasPrefix(v, "...") || strings.HasPrefix(v, "…") {
		return 0, 0, false
	}
	if quoted {
		return start, end, true
	}
	if len(v) < 6 || dottedIdentifier(v) {
		return 0, 0, false
	}
	if onlyWordLetters(v) {
		// A bare word is usually a variable (password = pw); accept it only
		// in env-file style, DB_PASSWORD=hunter.
		if key != strings.ToUpper(key) || sep != "=" {
			return 0, 0, false
		}
	}
	return start, end, true
}

func allSame(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return true
}

func onlyWordLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] == '_') {
			return false
		}
	}
	return true
}

// dottedIdentifier reports a.b.c: a field access, not a value.
func dottedIdentifier(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || isDigit(p[0]) {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !isAlnum(p[i]) && p[i] != '_' {
				return false
			}
		}
	}
	return true
}

func checkHighEntropy(text string, start, end int) bool {
	// The value must start a token of its own, not continue the keyword's
	// identifier (keyboard_layout_…).
	if start > 0 && strings.IndexByte(" \t\"'`=:", text[start-1]) < 0 {
		return false
	}
	v := strings.TrimRight(text[start:end], "=")
	if len(v) < 32 || isUUIDLike(v) {
		return false
	}
	if isHex(v) {
		c := classes(v)
		return entropy(v) >= 3.0 && c.digit && (c.lower || c.upper)
	}
	c := classes(v)
	return c.upper && c.lower && c.digit && entropy(v) >= 4.0 && !looksLikePath(v)
}

func isHex(s string) bool {
	lower, upper := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f':
			lower = true
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return false
		}
	}
	return !(lower && upper)
}

func isUUIDLike(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 5 {
		return false
	}
	for i, n := range []int{8, 4, 4, 4, 12} {
		if len(parts[i]) != n || !isHex(parts[i]) {
			return false
		}
	}
	return true
}

// looksLikePath reports a/b/c made of words: a path, not base64.
func looksLikePath(s string) bool {
	words := 0
	for _, seg := range strings.Split(s, "/") {
		if len(seg) >= 3 && onlyWordLetters(strings.ToLower(seg[:1])+seg[1:]) && strings.ToLower(seg[1:]) == seg[1:] {
			words++
		}
	}
	return words >= 2
}

// privateKeyEnd follows a PEM header to the end of its body (and END line)
// and reports whether a real key body is there: a header alone, in code
// that checks for one, is not a key.
func privateKeyEnd(text string, i int) (int, bool) {
	n := 0
	end := i
	for i < len(text) {
		switch c := text[i]; {
		case c == '\n' || c == '\r' || c == ' ' || c == '\t':
			i++
		case c == '\\' && i+1 < len(text) && (text[i+1] == 'n' || text[i+1] == 'r'):
			i += 2 // a key inside a JSON or shell string
		case strings.HasPrefix(text[i:], "Proc-Type:") || strings.HasPrefix(text[i:], "DEK-Info:") || strings.HasPrefix(text[i:], "Comment:"):
			for i < len(text) && text[i] != '\n' && text[i] != '\\' {
				i++
			}
		case isAlnum(c) || c == '+' || c == '/' || c == '=':
			n++
			i++
			end = i
		case strings.HasPrefix(text[i:], "-----END "):
			if j := strings.Index(text[i+9:], "-----"); j >= 0 {
				end = i + 9 + j + 5
			}
			return end, n >= 64
		default:
			return end, n >= 64
		}
	}
	return end, n >= 64
}
