package risk

import "strings"

// lexical is the fallback for text the parser rejects. It splits on shell
// operators and blanks, strips quotes and judges each piece as a command, so
// that a stray quote cannot hide `rm -rf /` from the analysis.
func (a *analyzer) lexical(src string) {
	segments := strings.FieldsFunc(src, func(r rune) bool {
		return strings.ContainsRune(";&|()`\n{}", r)
	})
	for _, seg := range segments {
		var words []wordVal
		redirect := ""
		for _, tok := range strings.Fields(seg) {
			tok = strings.NewReplacer(`"`, "", `'`, "", `\`, "").Replace(tok)
			if op := strings.TrimLeft(tok, "0123456789"); strings.HasPrefix(op, ">") || strings.HasPrefix(op, "<") {
				redirect = op[:1]
				tok = strings.TrimLeft(op, "<>&")
				if tok == "" {
					continue
				}
			}
			v := wordVal{s: tok}
			if strings.HasPrefix(tok, "~") {
				v.s = a.tilde(tok)
			}
			if i := strings.IndexByte(v.s, '$'); i >= 0 {
				v.s = v.s[:i] + unknownMark
				v.expand = true
			}
			v.glob = strings.ContainsAny(v.s, "*?[")
			switch redirect {
			case ">":
				a.writeTo(v)
			case "<":
				a.readFrom(v)
			default:
				words = append(words, v)
			}
			redirect = ""
		}
		a.run(words, &call{})
	}
}
