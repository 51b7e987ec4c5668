package risk

import "strings"

// luhn validates the check digit payment card numbers end with.
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
