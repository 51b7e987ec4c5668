package risk

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzAnalyzeShell checks that no command line panics the analyzer, takes
// unbounded time, or yields an out-of-range or unsorted result.
func FuzzAnalyzeShell(f *testing.F) {
	f.Fuzz(func(t *testing.T, cmd string) {
		// A hang never returns to be checked; crashing the worker makes the
		// fuzzer keep the input.
		watchdog := time.AfterFunc(10*time.Second, func() { panic("analysis hangs on " + strconv.Quote(cmd)) })
		sa := AnalyzeShell(cmd, testProject, testHome)
		watchdog.Stop()
		if sa.Risk < 0 || sa.Risk > 4 {
			t.Fatalf("risk %d", sa.Risk)
		}
		if !sortedUnique(sa.Signals) || !sortedUnique(sa.Categories) {
			t.Fatalf("not sorted and unique: %v %v", sa.Signals, sa.Categories)
		}
		if (sa.ParseError != "") != slices.Contains(sa.Signals, SignalParseError) {
			t.Fatalf("parse error %q but signals %v", sa.ParseError, sa.Signals)
		}
		if sa.ParseError != "" && sa.Risk < 3 {
			t.Fatalf("unparseable command at risk %d", sa.Risk)
		}
		for _, c := range sa.Commands {
			if strings.Contains(c, unknownMark) {
				t.Fatalf("internal marker leaked into %q", c)
			}
		}
	})
}

// FuzzScanContent checks that findings always lie inside the text and that
// hints never carry the value they stand for.
func FuzzScanContent(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		for _, fd := range ScanContent("f", text) {
			if fd.Offset < 0 || fd.Length <= 0 || fd.Offset+fd.Length > len(text) {
				t.Fatalf("finding %+v outside %d bytes", fd, len(text))
			}
			v := text[fd.Offset : fd.Offset+fd.Length]
			if len(fd.Hint) >= len(v) || strings.Contains(fd.Hint, v) {
				t.Fatalf("hint %q for %q", fd.Hint, v)
			}
			if fd.Where != "f" || !strings.Contains(fd.Kind, ".") {
				t.Fatalf("finding %+v", fd)
			}
		}
	})
}

func sortedUnique[T ~string](s []T) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}
