package council

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestJSONObjects(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`{"a":1}`, []string{`{"a":1}`}},
		{"```json\n{\"a\": [1, {\"b\": \"}\"}]}\n```", []string{`{"a": [1, {"b": "}"}]}`}},
		{`Sure! {not json} then {"ranking":["A"]} and {"x":"\"{"}.`, []string{`{"ranking":["A"]}`, `{"x":"\"{"}`}},
		{`{"unterminated": "x}`, nil},
		{`{{"a":1}`, []string{`{"a":1}`}},
		{"no braces at all", nil},
		{`[{"a":1}]`, []string{`{"a":1}`}},
	} {
		if got := jsonObjects(c.in); !slices.Equal(got, c.want) {
			t.Errorf("jsonObjects(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseJSONObjectPicksObjectWithKeys(t *testing.T) {
	var v rankingReply
	text := "For example {\"note\": \"x\"} - my answer:\n{\"ranking\": [\"B\", \"A\"], \"reasons\": [\"why\"]}"
	if err := parseJSONObject(text, &v, "ranking"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Ranking, []string{"B", "A"}) || v.Reasons != `["why"]` {
		t.Errorf("got %+v", v)
	}
	if err := parseJSONObject(`{"ranking": "B, A"}`, &v, "ranking"); err == nil {
		t.Error("ranking as a string accepted")
	}
	if err := parseJSONObject("nothing", &v); err != errNoJSON {
		t.Errorf("err = %v", err)
	}
}

func TestParseRanking(t *testing.T) {
	labels := []string{"A", "B", "C"}
	for _, c := range []struct {
		in   string
		want []int
		err  string
	}{
		{`{"ranking":["C","A","B"],"reasons":"r"}`, []int{2, 0, 1}, ""},
		{`{"ranking":["Response b"," (a)","c."]}`, []int{1, 0, 2}, ""},
		{`{"ranking":["A","B"]}`, nil, "2 of 3"},
		{`{"ranking":["A","B","B"]}`, nil, "twice"},
		{`{"ranking":["A","B","D"]}`, nil, "unknown"},
		{`{"ranking":["A","B","C","D"]}`, nil, "unknown"},
		{`{"order":["A","B","C"]}`, nil, "ranking"},
		{`B, A, C`, nil, "no JSON"},
	} {
		got, _, err := parseRanking(c.in, labels)
		if c.err == "" && (err != nil || !slices.Equal(got, c.want)) {
			t.Errorf("parseRanking(%s) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseRanking(%s) err = %v, want %q", c.in, err, c.err)
		}
	}
}

func TestParseClaims(t *testing.T) {
	got, err := parseClaims(`{"claims": ["  One   claim. ", "", {"claim": "Two."}, {"text": "Three."}, 4, "One claim."]}`)
	if err != nil || !slices.Equal(got, []string{"One claim.", "Two.", "Three."}) {
		t.Errorf("got %q, %v", got, err)
	}
	many := make([]string, 20)
	for i := range many {
		many[i] = strings.Repeat("x", i+1)
	}
	b, _ := json.Marshal(map[string]any{"claims": many})
	if got, err := parseClaims(string(b)); err != nil || len(got) != MaxClaims {
		t.Errorf("%d claims, %v; want %d", len(got), err, MaxClaims)
	}
	if _, err := parseClaims(`{"claims": []}`); err == nil {
		t.Error("empty claim list accepted")
	}
}

func TestParseVerdicts(t *testing.T) {
	got, err := parseVerdicts(`{"verdicts":[
		{"claim":1,"verdict":"Supported","note":"yes"},
		{"claim":"2","verdict":"CONTRADICTED.","note":" it is  100 "},
		{"claim":2,"verdict":"supported"},
		{"claim":7,"verdict":"supported"},
		{"claim":3,"verdict":"probably"},
		{"claim":4,"verdict":"unverifiable"}]}`, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []verdict{{verdictSupported, "yes"}, {verdictContradicted, "it is 100"}, {}, {verdictUnsupported, ""}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseVerdicts(`{"verdicts":[{"claim":9,"verdict":"supported"}]}`, 2); err == nil {
		t.Error("no usable verdicts accepted")
	}
}

func TestParseChoice(t *testing.T) {
	choices := []string{"Yes", "No", "C++"}
	for in, want := range map[string]string{
		`{"choice":"yes"}`:       "Yes",
		`{"choice":" **No.** "}`: "No",
		`{"choice":"c++"}`:       "C++",
		`{"choice":"c"}`:         "",
		`{"choice":"maybe"}`:     "",
		`{"vote":"Yes"}`:         "",
		`Yes`:                    "",
	} {
		got, err := parseChoice(in, choices)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("parseChoice(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNormalizeAnswer(t *testing.T) {
	for in, want := range map[string]string{
		"  Paris. ":                    "paris",
		"**PARIS**":                    "paris",
		"Answer: Paris":                "paris",
		"Final answer: \"New  York\"!": "new york",
		"C#":                           "c#",
		"42%":                          "42%",
		"...":                          "",
	} {
		if got := normalizeAnswer(in); got != want {
			t.Errorf("normalizeAnswer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeLabel(t *testing.T) {
	for in, want := range map[string]string{"B": "B", " b ": "B", "Response C": "C", "(a)": "A", "**D**.": "D", "AB": "AB"} {
		if got := normalizeLabel(in); got != want {
			t.Errorf("normalizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitSentences(t *testing.T) {
	text := "# The answer\n\nWater boils at 100 °C at sea level. Yes indeed!\nAt altitude it boils at a lower temperature? Pi is 3.14 roughly, says the book.\n\n" +
		"```go\nfmt.Println(\"this is code, not a claim.\")\n```\n" +
		"- First listed point about boiling\n* Second listed point about pressure\n1. Numbered point about steam rising\n\n" +
		"a line that wraps\nonto the next line and ends here."
	want := []string{
		"Water boils at 100 °C at sea level.",
		"At altitude it boils at a lower temperature?",
		"Pi is 3.14 roughly, says the book.",
		"First listed point about boiling",
		"Second listed point about pressure",
		"Numbered point about steam rising",
		"a line that wraps onto the next line and ends here.",
	}
	if got := splitSentences(text); !slices.Equal(got, want) {
		t.Errorf("splitSentences:\n got %q\nwant %q", got, want)
	}
	long := strings.Repeat("This sentence has five words. ", 20)
	if got := splitSentences(long); len(got) != MaxClaims {
		t.Errorf("%d sentences, want %d", len(got), MaxClaims)
	}
	if got := splitSentences("Short one. Tiny!"); len(got) != 0 {
		t.Errorf("short sentences kept: %q", got)
	}
}

func TestFirstLine(t *testing.T) {
	if got := firstLine("\n  \nParis\n\nbecause"); strings.TrimSpace(got) != "Paris" {
		t.Errorf("firstLine = %q", got)
	}
}

func FuzzParseJSONObject(f *testing.F) {
	for _, s := range []string{
		`{"ranking":["B","A"],"reasons":"x"}`,
		"```json\n{\"claims\":[\"a\"]}\n```",
		`text {"a":"}"} more {"b":1}`,
		`{"a":"\"{\\"}`,
		`{{{{`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, obj := range jsonObjects(s) {
			if !json.Valid([]byte(obj)) || obj[0] != '{' || obj[len(obj)-1] != '}' {
				t.Fatalf("jsonObjects(%q) returned %q", s, obj)
			}
			if !strings.Contains(s, obj) {
				t.Fatalf("jsonObjects(%q) returned %q, not a substring", s, obj)
			}
		}
		var m map[string]any
		if err := parseJSONObject(s, &m); err == nil && m == nil {
			t.Fatalf("parseJSONObject(%q) succeeded without a value", s)
		}
		// A valid object survives being wrapped in prose and a code fence.
		trimmed := strings.TrimSpace(s)
		if len(trimmed) > 0 && len(trimmed) < maxJSONScan/2 && trimmed[0] == '{' && json.Valid([]byte(trimmed)) {
			wrapped := "Here is the JSON:\n```json\n" + trimmed + "\n```\nDone."
			objs := jsonObjects(wrapped)
			if len(objs) == 0 || objs[0] != trimmed {
				t.Fatalf("wrapped %q: got %q", trimmed, objs)
			}
			var direct, viaText map[string]any
			if json.Unmarshal([]byte(trimmed), &direct) == nil {
				if err := parseJSONObject(wrapped, &viaText); err != nil {
					t.Fatalf("parseJSONObject(wrapped %q) = %v", trimmed, err)
				}
			}
		}
		_, _, _ = parseRanking(s, []string{"A", "B", "C"})
		_, _ = parseClaims(s)
		_, _ = parseVerdicts(s, 3)
		_, _ = parseChoice(s, []string{"yes", "no"})
		_ = splitSentences(s)
		_ = normalizeAnswer(s)
	})
}
