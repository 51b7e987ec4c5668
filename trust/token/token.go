// Package token makes and checks MirrorOS API tokens: "mos_" followed by 256
// random bits in base62. Only their SHA-256 is ever stored.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"strings"
)

// Prefix starts every token, so that secret scanners can find leaked ones.
const Prefix = "mos_"

// bodyLen is the number of base62 digits that hold 256 bits (62^43 > 2^256).
const bodyLen = 43

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns a fresh token.
func New() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	n := new(big.Int).SetBytes(b[:])
	out := make([]byte, bodyLen)
	base := big.NewInt(62)
	rem := new(big.Int)
	for i := bodyLen - 1; i >= 0; i-- {
		n.QuoRem(n, base, rem)
		out[i] = alphabet[rem.Int64()]
	}
	return Prefix + string(out), nil
}

// WellFormed reports whether s looks like a token, without saying whether it
// is a valid one.
func WellFormed(s string) bool {
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(body) != bodyLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return false
		}
	}
	return true
}

// Hash is what is stored for a token.
func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// ID is a short public name for a token, safe to log: the first 8 hex digits
// of its hash.
func ID(s string) string {
	const hexdigits = "0123456789abcdef"
	h := Hash(s)
	out := make([]byte, 8)
	for i := 0; i < 4; i++ {
		out[2*i], out[2*i+1] = hexdigits[h[i]>>4], hexdigits[h[i]&15]
	}
	return "tok_" + string(out)
}
