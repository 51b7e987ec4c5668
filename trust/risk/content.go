package risk

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxFindings bounds what one text yields: a dump of a million addresses
// needs no million-entry assessment, and the sensitivity is settled by the
// first finding anyway.
const maxFindings = 256

// detector finds one kind of sensitive value. Patterns only propose
// candidates; check decides, with a real validation (checksum, decoding,
// entropy, context), because a false alarm here blocks a cloud model call.
type detector struct {
	kind  string
	re    *regexp.Regexp
	group int // submatch that holds the value; 0 is the whole match
	// spans narrows matching to the stretches of text that can hold a
	// candidate (around a keyword, a run of digits); nil means all of it.
	// The regexp engine has no literal to skip ahead to in most of these
	// patterns, so this is what keeps a large file cheap to scan.
	spans func(text, lower string) [][2]int
	// keyword detectors match the ASCII-lower-cased text (same offsets),
	// once per span, with a pattern anchored at the span's start: cheaper
	// than (?i) over the whole text, which the engine cannot skip through.
	keyword bool
	check   func(text string, start, end int) bool
	hint    func(value string) string
}

// Detectors in priority order: a span claimed by one is not reported again
// by a later, vaguer one.
var detectors = []detector{
	{
		kind:  "secret.private_key",
		re:    regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`),
		spans: literalSpans(200, "-----BEGIN "),
		hint:  func(v string) string { return redact(v, len("-----BEGIN")) },
	},
	{
		kind:  "secret.jwt",
		re:    regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{16,}`),
		spans: literalSpans(16<<10, "eyJ"),
		check: checkJWT,
		hint:  func(v string) string { return redact(v, 3) },
	},
	{
		kind:  "secret.anthropic_key",
		re:    regexp.MustCompile(`sk-ant-[a-z0-9]{2,10}-[A-Za-z0-9_-]{32,}`),
		spans: literalSpans(300, "sk-ant-"),
		check: tokenCheck(isKeyChar, 3.5),
		hint:  func(v string) string { return redact(v, len("sk-ant-")) },
	},
	{
		kind:  "secret.openai_key",
		re:    regexp.MustCompile(`sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,}`),
		spans: literalSpans(300, "sk-"),
		check: checkOpenAI,
		hint:  func(v string) string { return redact(v, len("sk-")) },
	},
	{
		kind:  "secret.github_token",
		re:    regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{50,255}`),
		spans: literalSpans(300, "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
		check: tokenCheck(isKeyChar, 3.5),
		hint: func(v string) string {
			if strings.HasPrefix(v, "github_pat_") {
				return redact(v, len("github_pat_"))
			}
			return redact(v, 4)
		},
	},
	{
		kind:  "secret.slack_token",
		re:    regexp.MustCompile(`xox[baprs]-[0-9]+-[0-9A-Za-z-]{10,}|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}`),
		spans: literalSpans(300, "xox", "https://hooks.slack.com/"),
		check: tokenCheck(isKeyChar, 3.0),
		hint: func(v string) string {
			if strings.HasPrefix(v, "https://") {
				return redact(v, len("https://hooks.slack.com/services/"))
			}
			return redact(v, 5)
		},
	},
	{
		kind:  "secret.stripe_key",
		re:    regexp.MustCompile(`(?:sk|rk)_live_[0-9A-Za-z]{20,}`),
		spans: literalSpans(300, "sk_live_", "rk_live_"),
		check: tokenCheck(isKeyChar, 3.0),
		hint:  func(v string) string { return redact(v, len("sk_live_")) },
	},
	{
		kind:  "secret.google_api_key",
		re:    regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}`),
		spans: literalSpans(64, "AIza"),
		check: tokenCheck(isKeyChar, 3.0),
		hint:  func(v string) string { return redact(v, 4) },
	},
	{
		kind:  "secret.aws_access_key",
		re:    regexp.MustCompile(`(?:AKIA|ASIA)[A-Z0-9]{16}`),
		spans: literalSpans(32, "AKIA", "ASIA"),
		check: checkAWSKeyID,
		hint:  func(v string) string { return redact(v, 4) },
	},
	{
		kind:    "secret.aws_secret_key",
		re:      regexp.MustCompile(`^[a-z0-9_.-]*?(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)(?:_id)?["']?\s*(?:[:=]|=>)\s*["']?([a-z0-9/+]{40})`),
		group:   1,
		keyword: true,
		spans:   keywordSpans("secret"),
		check:   checkAWSSecret,
		hint:    func(v string) string { return redact(v, 0) },
	},
	{
		kind:  "secret.mirror_token",
		re:    regexp.MustCompile(`mos_[0-9A-Za-z]{43}`),
		spans: literalSpans(64, "mos_"),
		check: tokenCheck(isAlnum, 3.5),
		hint:  func(v string) string { return redact(v, 4) },
	},
	{
		kind:    "secret.password_assignment",
		re:      regexp.MustCompile(`^([a-z0-9_.-]*(?:password|passwd|passphrase))["']?[ \t]*(:=|=>|[:=])[ \t]*(?:"([^"\r\n]{1,256})"|'([^'\r\n]{1,256})'|([^\s"',;<>{}()\[\]]{1,256}))`),
		keyword: true,
		spans:   keywordSpans("passw", "passphrase"),
		hint:    func(v string) string { return redact(v, 0) },
	},
	{
		kind:    "secret.high_entropy",
		re:      regexp.MustCompile(`^[a-z0-9_.-]*?(?:key|secret|token|passw(?:or)?d|credential|auth|bearer)[a-z0-9_.-]{0,24}["']?[ \t]*(?:[:=]|:=|=>)?[ \t]*["'\x60]?([a-z0-9+/_=-]{32,})`),
		group:   1,
		keyword: true,
		spans:   keywordSpans("key", "secret", "token", "passw", "credential", "auth", "bearer"),
		check:   checkHighEntropy,
		hint:    func(v string) string { return redact(v, 0) },
	},
	{
		kind:  "pii.card",
		re:    regexp.MustCompile(`\d(?:[ -]?\d){12,18}`),
		spans: numberSpans,
		check: checkCard,
		hint:  func(v string) string { return redactTail(v, 4) },
	},
	{
		kind:  "pii.aadhaar",
		re:    regexp.MustCompile(`[2-9]\d{3} ?\d{4} ?\d{4}`),
		spans: numberSpans,
		check: checkAadhaar,
		hint:  func(v string) string { return redactTail(v, 4) },
	},
	{
		kind:  "pii.phone",
		re:    regexp.MustCompile(`\+?\(?\d[\d ().-]{7,22}\d`),
		spans: numberSpans,
		check: checkPhone,
		hint: func(v string) string {
			if strings.HasPrefix(v, "+") {
				return redact(v, 3)
			}
			return redact(v, 0)
		},
	},
	{
		kind:  "pii.pan",
		re:    regexp.MustCompile(`[A-Z]{3}[ABCFGHLJPT][A-Z]\d{4}[A-Z]`),
		spans: panSpans,
		check: tokenCheck(isAlnum, 0),
		hint:  func(v string) string { return redact(v, 0) },
	},
	{
		kind:  "pii.email",
		re:    regexp.MustCompile(`[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}`),
		spans: emailSpans,
		check: checkEmail,
		hint: func(v string) string {
			at := strings.IndexByte(v, '@')
			return redactAround(v, 1, len(v)-at)
		},
	},
}

// ScanContent reports secrets and personal data in text. where names the
// field the text came from and is copied into each finding. Findings carry
// position and a redacted hint, never the value.
func ScanContent(where, text string) []Finding {
	var out []Finding
	if text == "" {
		return out
	}
	lower := asciiLower(text)
	taken := make([][2]int, 0, 8)
	overlaps := func(s, e int) bool {
		for _, t := range taken {
			if s < t[1] && t[0] < e {
				return true
			}
		}
		return false
	}
	whole := [][2]int{{0, len(text)}}
	for _, d := range detectors {
		if len(out) >= maxFindings {
			break
		}
		windows := whole
		if d.spans != nil {
			windows = d.spans(text, lower)
		}
		var matches [][]int
		for _, w := range windows {
			if d.keyword {
				if m := d.re.FindStringSubmatchIndex(lower[w[0]:w[1]]); m != nil {
					for i := range m {
						if m[i] >= 0 {
							m[i] += w[0]
						}
					}
					matches = append(matches, m)
				}
				continue
			}
			for _, m := range d.re.FindAllStringSubmatchIndex(text[w[0]:w[1]], -1) {
				for i := range m {
					if m[i] >= 0 {
						m[i] += w[0]
					}
				}
				matches = append(matches, m)
			}
		}
		for _, m := range matches {
			if len(out) >= maxFindings {
				break
			}
			start, end := m[0], m[1]
			if d.group > 0 {
				if m[2*d.group] < 0 {
					continue
				}
				start, end = m[2*d.group], m[2*d.group+1]
			}
			switch d.kind {
			case "secret.private_key":
				var ok bool
				if end, ok = privateKeyEnd(text, end); !ok {
					continue
				}
			case "secret.password_assignment":
				var ok bool
				if start, end, ok = passwordValue(text, m); !ok {
					continue
				}
			}
			if d.check != nil && !d.check(text, start, end) {
				continue
			}
			if overlaps(start, end) {
				continue
			}
			taken = append(taken, [2]int{start, end})
			out = append(out, Finding{
				Kind:   d.kind,
				Where:  where,
				Offset: start,
				Length: end - start,
				Hint:   d.hint(text[start:end]),
			})
		}
	}
	slices.SortFunc(out, func(x, y Finding) int {
		if x.Offset != y.Offset {
			return x.Offset - y.Offset
		}
		return strings.Compare(x.Kind, y.Kind)
	})
	return out
}

// redact keeps a known, non-secret prefix (the key type, not the key) and
// the length. The hint is always shorter than the value, so it can never
// hold it.
func redact(v string, keep int) string {
	n := len(v)
	if keep >= n {
		keep = 0
	}
	size := strconv.Itoa(n)
	for _, h := range []string{
		v[:keep] + "…(" + size + " chars)",
		v[:keep] + "…(" + size + ")",
		v[:keep] + "…",
		"…(" + size + ")",
	} {
		if len(h) < n {
			return h
		}
	}
	return "…"
}

// redactTail keeps the last digits, as card and Aadhaar masks do.
func redactTail(v string, keep int) string {
	var ds []byte
	for i := 0; i < len(v); i++ {
		if v[i] >= '0' && v[i] <= '9' {
			ds = append(ds, v[i])
		}
	}
	if len(ds) > keep*2 {
		if h := "…" + string(ds[len(ds)-keep:]); len(h) < len(v) {
			return h
		}
	}
	return redact(v, 0)
}

// redactAround keeps head bytes and tail bytes: j…@example.org.
func redactAround(v string, head, tail int) string {
	if head+tail+len("…") < len(v) {
		return v[:head] + "…" + v[len(v)-tail:]
	}
	if tail+len("…") < len(v) {
		return "…" + v[len(v)-tail:]
	}
	return redact(v, 0)
}
