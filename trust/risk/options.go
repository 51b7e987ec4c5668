package risk

import (
	"slices"
	"strings"
)

// options is a command's arguments split into options and operands.
type options struct {
	flags    map[string]bool      // short options as "r", long ones as "--force"
	values   map[string][]wordVal // option values, keyed like flags
	valueIdx map[int]bool         // indexes of arguments consumed as option values
	operands []int                // indexes of operands, in order
}

func (o options) has(names ...string) bool {
	for _, n := range names {
		if o.flags[n] {
			return true
		}
	}
	return false
}

// value returns the last value given to any of names.
func (o options) value(names ...string) (wordVal, bool) {
	var out wordVal
	found := false
	for _, n := range names {
		if vs := o.values[n]; len(vs) > 0 {
			out, found = vs[len(vs)-1], true
		}
	}
	return out, found
}

func (o options) allValues(names ...string) []wordVal {
	var out []wordVal
	for _, n := range names {
		out = append(out, o.values[n]...)
	}
	return out
}

func (o options) operandVals(args []wordVal) []wordVal {
	out := make([]wordVal, 0, len(o.operands))
	for _, i := range o.operands {
		out = append(out, args[i])
	}
	return out
}

// scanOptions parses GNU-style options. shortVal lists the short letters
// that take a value, longVal the long names (without "--") that do. With
// posix set, the first operand ends the options, as for wrappers like sudo
// whose operands are another command with options of its own.
func scanOptions(args []wordVal, shortVal string, longVal []string, posix bool) options {
	o := options{flags: map[string]bool{}, values: map[string][]wordVal{}, valueIdx: map[int]bool{}}
	rest := func(from int) {
		for j := from; j < len(args); j++ {
			o.operands = append(o.operands, j)
		}
	}
	for i := 0; i < len(args); i++ {
		v := args[i]
		s := v.s
		if s == "--" && v.known() {
			rest(i + 1)
			break
		}
		if !v.known() || len(s) < 2 || s[0] != '-' {
			if posix {
				rest(i)
				break
			}
			o.operands = append(o.operands, i)
			continue
		}
		if strings.HasPrefix(s, "--") {
			name, val, hasVal := strings.Cut(s[2:], "=")
			key := "--" + name
			o.flags[key] = true
			switch {
			case hasVal:
				sub := v
				sub.s = val
				o.values[key] = append(o.values[key], sub)
			case slices.Contains(longVal, name) && i+1 < len(args):
				i++
				o.values[key] = append(o.values[key], args[i])
				o.valueIdx[i] = true
			}
			continue
		}
		for j := 1; j < len(s); j++ {
			ch := s[j : j+1]
			o.flags[ch] = true
			if !strings.Contains(shortVal, ch) {
				continue
			}
			if j+1 < len(s) {
				sub := v
				sub.s = s[j+1:]
				o.values[ch] = append(o.values[ch], sub)
			} else if i+1 < len(args) {
				i++
				o.values[ch] = append(o.values[ch], args[i])
				o.valueIdx[i] = true
			}
			break
		}
	}
	return o
}
