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

func luhn(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

var (
	verhoeffD = [10][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
)

// verhoeff validates the check digit Aadhaar numbers end with.
func verhoeff(digits []byte) bool {
	c := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[len(digits)-1-i] - '0')
		c = verhoeffD[c][verhoeffP[i%8][d]]
	}
	return c == 0
}

func digitsOf(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			out = append(out, s[i])
		}
	}
	return out
}

// numberBounded reports whether a number is not part of a longer one: no
// digit, and no separator-then-digit, on either side.
func numberBounded(text string, start, end int) bool {
	if start > 0 {
		p := text[start-1]
		if isDigit(p) || isAlnum(p) || p == '.' || p == '_' {
			return false
		}
		if (p == ' ' || p == '-') && start > 1 && isDigit(text[start-2]) {
			return false
		}
	}
	if end < len(text) {
		n := text[end]
		if isAlnum(n) || n == '_' {
			return false
		}
		if (n == ' ' || n == '-' || n == '.') && end+1 < len(text) && isDigit(text[end+1]) {
			return false
		}
	}
	return true
}

func checkCard(text string, start, end int) bool {
	v := text[start:end]
	if !numberBounded(text, start, end) {
		return false
	}
	ds := digitsOf(v)
	n := len(ds)
	if n < 13 || n > 19 || allSame(string(ds)) {
		return false
	}
	// Separators, if any, are one kind and group the digits as printed
	// cards do (4-4-4-4, Amex 4-6-5).
	if seps := strings.Count(v, " ") + strings.Count(v, "-"); seps > 0 {
		if strings.Contains(v, " ") && strings.Contains(v, "-") {
			return false
		}
		sep := " "
		if strings.Contains(v, "-") {
			sep = "-"
		}
		groups := strings.Split(v, sep)
		amex := len(groups) == 3 && len(groups[0]) == 4 && len(groups[1]) == 6 && len(groups[2]) == 5
		if !amex {
			for i, g := range groups {
				if len(g) != 4 && !(i == len(groups)-1 && len(g) >= 1 && len(g) <= 4) {
					return false
				}
			}
		}
	}
	if !luhn(ds) {
		return false
	}
	prefix := func(k int) int {
		x := 0
		for i := 0; i < k; i++ {
			x = x*10 + int(ds[i]-'0')
		}
		return x
	}
	switch {
	case ds[0] == '4':
		return n == 13 || n == 16 || n == 19
	case prefix(2) >= 51 && prefix(2) <= 55, prefix(4) >= 2221 && prefix(4) <= 2720:
		return n == 16
	case prefix(2) == 34 || prefix(2) == 37:
		return n == 15
	case prefix(4) == 6011 || prefix(2) == 65 || (prefix(3) >= 644 && prefix(3) <= 649):
		return n >= 16 && n <= 19
	case prefix(2) == 35:
		return n >= 16 && n <= 19
	}
	return false
}

func checkAadhaar(text string, start, end int) bool {
	v := text[start:end]
	if !numberBounded(text, start, end) {
		return false
	}
	if s := strings.Count(v, " "); s != 0 && s != 2 {
		return false
	}
	ds := digitsOf(v)
	return len(ds) == 12 && !allSame(string(ds)) && verhoeff(ds)
}

func checkPhone(text string, start, end int) bool {
	v := text[start:end]
	if start > 0 {
		p := text[start-1]
		if isAlnum(p) || strings.IndexByte("._-/:+#=", p) >= 0 {
			return false
		}
	}
	if end < len(text) {
		n := text[end]
		if isAlnum(n) || n == '_' || ((n == '.' || n == '-' || n == ':' || n == '/') && end+1 < len(text) && isDigit(text[end+1])) {
			return false
		}
	}
	if strings.Count(v, "(") != strings.Count(v, ")") || strings.Contains(v, "  ") {
		return false
	}
	ds := digitsOf(v)
	if len(ds) < 10 || len(ds) > 15 {
		return false
	}
	if strings.HasPrefix(v, "+") {
		// E.164: a country code never starts with 0; separators at most
		// single, and no more groups than a written number has.
		if v[1] == '0' || (v[1] == '(' && len(v) > 2 && v[2] == '0') {
			return false
		}
		groups := strings.FieldsFunc(v[1:], func(r rune) bool { return r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' })
		return len(groups) <= 6 && !strings.Contains(v, "..") && !strings.Contains(v, "--")
	}
	return nationalPhone(v)
}

// nationalPhone accepts the national formats common enough to matter:
// NANP (415) 555-2671, trunk-zero numbers 020 7946 0958, Indian mobiles
// 98765 43210. Anything else without a + is more likely an id or a date.
func nationalPhone(v string) bool {
	groups := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' })
	if len(groups) < 2 {
		return false // a plain number
	}
	sizes := make([]int, len(groups))
	for i, g := range groups {
		sizes[i] = len(g)
	}
	nanp := func(gs []string) bool {
		return len(gs) == 3 && len(gs[0]) == 3 && len(gs[1]) == 3 && len(gs[2]) == 4 &&
			gs[0][0] >= '2' && gs[1][0] >= '2'
	}
	switch {
	case nanp(groups):
		return true
	case len(groups) == 4 && groups[0] == "1" && nanp(groups[1:]):
		return true
	case groups[0][0] == '0' && len(groups) <= 3 && !strings.Contains(v, "."):
		n := 0
		for _, s := range sizes {
			if s < 2 || s > 5 {
				return false
			}
			n += s
		}
		return n == 10 || n == 11
	case len(groups) == 2 && sizes[0] == 5 && sizes[1] == 5 && groups[0][0] >= '6' && !strings.Contains(v, "."):
		return true
	}
	return false
}

// fileExtensions look like top-level domains in names such as icon@2x.png.
var fileExtensions = map[string]bool{
	"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true, "ico": true,
	"js": true, "ts": true, "css": true, "map": true, "json": true, "txt": true, "md": true,
	"html": true, "tsx": true, "jsx": true, "go": true, "py": true, "rb": true, "lock": true,
}

func checkEmail(text string, start, end int) bool {
	v := text[start:end]
	at := strings.IndexByte(v, '@')
	local, domain := v[:at], strings.ToLower(v[at+1:])
	if end < len(text) && (text[end] == ':' || text[end] == '@' || isAlnum(text[end])) {
		return false // git@github.com:org/repo is an ssh address
	}
	if start > 0 && (text[start-1] == '@' || strings.HasSuffix(text[:start], "://")) {
		return false // user@ in a URL is a login, not an address
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	switch strings.ToLower(local) {
	case "git", "noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon":
		return false
	}
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	if fileExtensions[tld] {
		return false
	}
	for _, d := range []string{"example.com", "example.org", "example.net", "users.noreply.github.com"} {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return false
		}
	}
	switch tld {
	case "example", "test", "invalid", "localhost", "local":
		return false
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
	}
	return true
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
