package risk

import (
	"slices"
	"strings"
)

// asciiLower lower-cases ASCII letters only, so that offsets in the result
// are offsets in the original.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// keywordSpans returns, for each identifier holding a keyword, the stretch
// from its start to a few hundred bytes past the keyword: room for a key
// suffix, a separator and a value.
func keywordSpans(keywords ...string) func(text, lower string) [][2]int {
	return func(text, lower string) [][2]int {
		var out [][2]int
		seen := map[int]bool{}
		for _, k := range keywords {
			identEnd := 0 // end of the identifier holding the last occurrence
			for from := 0; ; {
				i := strings.Index(lower[from:], k)
				if i < 0 {
					break
				}
				i += from
				from = i + len(k)
				if i < identEnd {
					continue // same identifier: its span is already out
				}
				start := i
				for start > 0 && isIdentChar(text[start-1]) {
					start--
				}
				for identEnd = from; identEnd < len(text) && isIdentChar(text[identEnd]); identEnd++ {
				}
				if !seen[start] {
					seen[start] = true
					out = append(out, [2]int{start, min(len(text), i+len(k)+320)})
				}
			}
		}
		slices.SortFunc(out, func(x, y [2]int) int { return x[0] - y[0] })
		return out
	}
}

func isIdentChar(c byte) bool { return isKeyChar(c) || c == '.' }

// literalSpans returns a stretch of up to n bytes from each occurrence of
// a literal the pattern starts with.
func literalSpans(n int, literals ...string) func(text, lower string) [][2]int {
	return func(text, _ string) [][2]int {
		var out [][2]int
		for _, l := range literals {
			for from := 0; ; {
				i := strings.Index(text[from:], l)
				if i < 0 {
					break
				}
				i += from
				out = append(out, [2]int{i, min(len(text), i+n)})
				from = i + len(l)
			}
		}
		return mergeSpans(out)
	}
}

// numberSpans returns runs of digits and the punctuation numbers are
// written with, holding at least ten digits.
func numberSpans(text, _ string) [][2]int {
	var out [][2]int
	start, digits := -1, 0
	flush := func(end int) {
		if start >= 0 && digits >= 10 {
			out = append(out, [2]int{start, end})
		}
		start, digits = -1, 0
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case isDigit(c):
			if start < 0 {
				start = i
			}
			digits++
		case c == ' ' || c == '(' || c == ')' || c == '+' || c == '.' || c == '-':
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(text))
	return out
}

// panSpans returns alphanumeric runs exactly as long as a PAN.
func panSpans(text, _ string) [][2]int {
	var out [][2]int
	start := -1
	for i := 0; i <= len(text); i++ {
		if i < len(text) && isAlnum(text[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start == 10 {
			out = append(out, [2]int{start, i})
		}
		start = -1
	}
	return out
}

// emailSpans returns the stretch around each @ that an address can cover.
func emailSpans(text, _ string) [][2]int {
	var out [][2]int
	for from := 0; ; {
		i := strings.IndexByte(text[from:], '@')
		if i < 0 {
			break
		}
		i += from
		start, end := i, i+1
		for start > 0 && i-start < 64 && (isAlnum(text[start-1]) || strings.IndexByte("._%+-", text[start-1]) >= 0) {
			start--
		}
		for end < len(text) && end-i < 300 && (isAlnum(text[end]) || text[end] == '.' || text[end] == '-') {
			end++
		}
		out = append(out, [2]int{start, end})
		from = i + 1
	}
	return mergeSpans(out)
}

func mergeSpans(spans [][2]int) [][2]int {
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(x, y [2]int) int { return x[0] - y[0] })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s[0] <= last[1] {
			last[1] = max(last[1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}
