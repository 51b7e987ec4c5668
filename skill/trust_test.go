package skill

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// signed writes testManifest/testTemplate (or the given files) as a bundle
// signed by skey and returns its directory.
func signed(t *testing.T, skey, manifest, tmpl string) string {
	t.Helper()
	dir := writeBundle(t, manifest, tmpl)
	if err := Sign(dir, skey); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantTrust(t *testing.T, err error, kind string, reason ...string) {
	t.Helper()
	var te *TrustError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *TrustError %s", err, kind)
	}
	if te.Kind != kind {
		t.Fatalf("kind = %s, want %s (%v)", te.Kind, kind, err)
	}
	for _, r := range reason {
		if !strings.Contains(te.Reason, r) {
			t.Errorf("reason %q lacks %q", te.Reason, r)
		}
	}
	if !strings.Contains(err.Error(), "refused ("+kind+")") {
		t.Errorf("Error() = %q", err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	skey, vkey := newKey(t, "alice")
	dir := signed(t, skey, testManifest, testTemplate)
	sig := readFile(t, filepath.Join(dir, SignatureFile))
	b := mustLoad(t, dir)
	wantText := "mirroros skill v1\ngreet 1.0.0\n" + b.Digest + "\n\n— alice "
	if !strings.HasPrefix(string(sig), wantText) {
		t.Errorf("skill.sig =\n%s\nwant prefix\n%s", sig, wantText)
	}
	if fi, err := os.Stat(filepath.Join(dir, SignatureFile)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("skill.sig mode: %v %v", fi.Mode(), err)
	}
	// The note verifies with the verifier key alone, as any note tool would.
	v, _ := note.NewVerifier(vkey)
	if _, err := note.Open(sig, note.VerifierList(v)); err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	got, err := Verify(b, []Signer{{Name: "alice", Key: vkey}}, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got.Signer != "alice" || got.Digest != b.Digest || got.Key != vkey || len(got.KeyHash) != 8 || !strings.Contains(vkey, "+"+got.KeyHash+"+") {
		t.Errorf("Verified = %+v", got)
	}
	// Signing again with the same key gives the same file: Ed25519 is
	// deterministic and the old signature is replaced, not duplicated.
	if err := Sign(dir, skey); err != nil {
		t.Fatal(err)
	}
	if again := readFile(t, filepath.Join(dir, SignatureFile)); string(again) != string(sig) {
		t.Errorf("re-signing changed skill.sig:\n%s", again)
	}
}

func TestCoSigning(t *testing.T) {
	askey, avkey := newKey(t, "alice")
	bskey, bvkey := newKey(t, "bob")
	dir := signed(t, askey, testManifest, testTemplate)
	if err := Sign(dir, bskey); err != nil {
		t.Fatal(err)
	}
	sig := string(readFile(t, filepath.Join(dir, SignatureFile)))
	if !strings.Contains(sig, "— alice ") || !strings.Contains(sig, "— bob ") {
		t.Fatalf("co-signed skill.sig lacks a signature:\n%s", sig)
	}
	b := mustLoad(t, dir)
	for _, s := range []Signer{{Name: "alice", Key: avkey}, {Name: "bob", Key: bvkey}} {
		if v, err := Verify(b, []Signer{s}, nil, testNow); err != nil || v.Signer != s.Name {
			t.Errorf("Verify with only %s = %+v, %v", s.Name, v, err)
		}
	}
	// A stale signature is replaced, not kept beside the new one.
	writeFile(t, filepath.Join(dir, TemplateFile), testTemplate+"more\n")
	if err := Sign(dir, askey); err != nil {
		t.Fatal(err)
	}
	if sig := string(readFile(t, filepath.Join(dir, SignatureFile))); strings.Contains(sig, "— bob ") {
		t.Errorf("stale co-signature kept:\n%s", sig)
	}
}

func TestSignErrors(t *testing.T) {
	if err := Sign(writeBundle(t, testManifest, testTemplate), "not a key"); err == nil {
		t.Error("signed with a malformed key")
	}
	skey, _ := newKey(t, "alice")
	if err := Sign(writeBundle(t, "name = 1", testTemplate), skey); err == nil {
		t.Error("signed an invalid bundle")
	}
	for _, name := range []string{"", "a b", "a+b", ".hidden", strings.Repeat("x", 129), "a\x00b"} {
		if _, _, err := GenerateKey(name); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", name)
		}
	}
	if _, _, err := GenerateKey("mirroros/local"); err != nil {
		t.Errorf("GenerateKey with a slash: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	askey, avkey := newKey(t, "alice")
	mskey, mvkey2 := newKey(t, "mallory")
	alice := Signer{Name: "alice", Key: avkey}
	trusted := []Signer{alice}

	t.Run("unsigned", func(t *testing.T) {
		b := mustLoad(t, writeBundle(t, testManifest, testTemplate))
		_, err := Verify(b, trusted, nil, testNow)
		wantTrust(t, err, TrustUnsigned, "no skill.sig")
	})
	t.Run("tampered manifest byte", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, ManifestFile), strings.Replace(testManifest, "Greet someone", "Greet anyone", 1))
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "changed after signing")
	})
	t.Run("tampered template byte", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, TemplateFile), strings.Replace(testTemplate, "Greet", "Grete", 1))
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "digest")
	})
	t.Run("signature swapped from another skill", func(t *testing.T) {
		other := signed(t, askey, strings.Replace(testManifest, `"greet"`, `"other"`, 1), testTemplate)
		dir := signed(t, askey, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, SignatureFile), string(readFile(t, filepath.Join(other, SignatureFile))))
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "signs other@1.0.0, not greet@1.0.0")
	})
	t.Run("signature swapped from another version", func(t *testing.T) {
		other := signed(t, askey, strings.Replace(testManifest, `"1.0.0"`, `"1.0.1"`, 1), testTemplate)
		dir := writeBundle(t, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, SignatureFile), string(readFile(t, filepath.Join(other, SignatureFile))))
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "signs greet@1.0.1")
	})
	t.Run("trusted key over a different digest", func(t *testing.T) {
		// The note text is edited to claim the new digest; the trusted key's
		// signature over it then fails.
		dir := signed(t, askey, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, TemplateFile), "evil {{.who}}")
		b := mustLoad(t, dir)
		old := mustLoad(t, writeBundle(t, testManifest, testTemplate)).Digest
		writeFile(t, filepath.Join(dir, SignatureFile), strings.Replace(string(b.SigData), old, b.Digest, 1))
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "signature by trusted key alice+", "does not verify")
	})
	t.Run("malformed signature", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, SignatureFile), "garbage")
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "not a well-formed signed note")
	})
	t.Run("foreign note", func(t *testing.T) {
		s, _ := note.NewSigner(askey)
		msg, _ := note.Sign(&note.Note{Text: "mirroros/ledger\n1\nAAAA\n"}, s)
		dir := writeBundle(t, testManifest, testTemplate)
		writeFile(t, filepath.Join(dir, SignatureFile), string(msg))
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustTampered, "does not sign a MirrorOS skill")
	})
	t.Run("untrusted key", func(t *testing.T) {
		dir := signed(t, mskey, testManifest, testTemplate)
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustUntrusted, "signed only by mallory+")
	})
	t.Run("same name, other key", func(t *testing.T) {
		// A key named like a trusted signer but with a different key is
		// still untrusted.
		impostor, _ := newKey(t, "alice")
		dir := signed(t, impostor, testManifest, testTemplate)
		_, err := Verify(mustLoad(t, dir), trusted, nil, testNow)
		wantTrust(t, err, TrustUntrusted)
	})
	t.Run("no signers", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		_, err := Verify(mustLoad(t, dir), nil, nil, testNow)
		wantTrust(t, err, TrustUntrusted)
	})
	t.Run("expired signer", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		exp := alice
		exp.ValidUntil = testNow.Add(-time.Hour)
		_, err := Verify(mustLoad(t, dir), []Signer{exp}, nil, testNow)
		wantTrust(t, err, TrustExpiredSigner, "alice (trusted until 2026-03-01T11:00:00Z)")
		exp.ValidUntil = testNow.Add(time.Hour)
		if _, err := Verify(mustLoad(t, dir), []Signer{exp}, nil, testNow); err != nil {
			t.Errorf("unexpired signer refused: %v", err)
		}
	})
	t.Run("expired co-signer with valid co-signer", func(t *testing.T) {
		bskey, bvkey := newKey(t, "bob")
		dir := signed(t, askey, testManifest, testTemplate)
		if err := Sign(dir, bskey); err != nil {
			t.Fatal(err)
		}
		exp := alice
		exp.ValidUntil = testNow.Add(-time.Hour)
		v, err := Verify(mustLoad(t, dir), []Signer{exp, {Name: "bob", Key: bvkey}}, nil, testNow)
		if err != nil || v.Signer != "bob" {
			t.Errorf("Verify = %+v, %v", v, err)
		}
	})
	t.Run("revoked digest", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		b := mustLoad(t, dir)
		revs := []Revocation{{Kind: RevokeDigest, Value: b.Digest, Reason: "prompt injection"}}
		_, err := Verify(b, trusted, revs, testNow)
		wantTrust(t, err, TrustRevoked, "digest "+b.Digest+" is revoked: prompt injection")
	})
	t.Run("revoked digest unsigned", func(t *testing.T) {
		b := mustLoad(t, writeBundle(t, testManifest, testTemplate))
		_, err := Verify(b, trusted, []Revocation{{Kind: RevokeDigest, Value: b.Digest}}, testNow)
		wantTrust(t, err, TrustRevoked)
	})
	t.Run("revoked key", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		_, err := Verify(mustLoad(t, dir), trusted, []Revocation{{Kind: RevokeKey, Value: avkey, Reason: "laptop stolen"}}, testNow)
		wantTrust(t, err, TrustRevoked, "signed by revoked key alice+", "laptop stolen")
	})
	t.Run("revoked key by name and hash", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		v, _ := note.NewVerifier(avkey)
		id := keyID(v.Name(), v.KeyHash())
		_, err := Verify(mustLoad(t, dir), trusted, []Revocation{{Kind: RevokeKey, Value: id}}, testNow)
		wantTrust(t, err, TrustRevoked, id)
	})
	t.Run("revoked untrusted key", func(t *testing.T) {
		dir := signed(t, mskey, testManifest, testTemplate)
		_, err := Verify(mustLoad(t, dir), trusted, []Revocation{{Kind: RevokeKey, Value: mvkey2}}, testNow)
		wantTrust(t, err, TrustRevoked, "mallory+")
	})
	t.Run("revoked co-signer taints", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		if err := Sign(dir, mskey); err != nil {
			t.Fatal(err)
		}
		_, err := Verify(mustLoad(t, dir), trusted, []Revocation{{Kind: RevokeKey, Value: mvkey2}}, testNow)
		wantTrust(t, err, TrustRevoked)
	})
	t.Run("other revocations do not matter", func(t *testing.T) {
		dir := signed(t, askey, testManifest, testTemplate)
		revs := []Revocation{{Kind: RevokeKey, Value: mvkey2}, {Kind: RevokeDigest, Value: goldenDigest}}
		if _, err := Verify(mustLoad(t, dir), trusted, revs, testNow); err != nil {
			t.Error(err)
		}
	})
	t.Run("nil bundle", func(t *testing.T) {
		_, err := Verify(nil, trusted, nil, testNow)
		wantTrust(t, err, TrustTampered)
	})
}

func TestSigners(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trust", "signers")
	if s, err := Signers(dir); err != nil || len(s) != 0 {
		t.Fatalf("missing dir: %v, %v", s, err)
	}
	_, avkey := newKey(t, "alice")
	_, bvkey := newKey(t, "mirroros/local")
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := AddSigner(dir, Signer{Name: "alice", Key: avkey, ValidUntil: until, Comment: "Alice's release key"}); err != nil {
		t.Fatal(err)
	}
	if err := AddSigner(dir, Signer{Name: "mirroros/local", Key: bvkey}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mirroros%2Flocal.toml")); err != nil {
		t.Errorf("escaped file name: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "alice.toml"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("alice.toml: %v %v", fi, err)
	}
	got, err := Signers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "alice" || got[1].Name != "mirroros/local" {
		t.Fatalf("Signers = %+v", got)
	}
	a := got[0]
	if a.Key != avkey || !a.ValidUntil.Equal(until) || a.Comment != "Alice's release key" || a.AddedAt.IsZero() {
		t.Errorf("alice = %+v", a)
	}
	if !got[1].ValidUntil.IsZero() || got[1].Expired(testNow.AddDate(100, 0, 0)) {
		t.Errorf("no valid_until must mean forever: %+v", got[1])
	}
	if !a.Expired(until.Add(time.Second)) || a.Expired(until) {
		t.Error("Expired wrong around valid_until")
	}

	// Same key again updates; a different key under the name is refused.
	if err := AddSigner(dir, Signer{Name: "alice", Key: avkey, Comment: "updated"}); err != nil {
		t.Errorf("re-adding the same key: %v", err)
	}
	if got, _ := Signers(dir); got[0].Comment != "updated" || !got[0].AddedAt.Equal(a.AddedAt) {
		t.Errorf("update lost added_at or comment: %+v", got[0])
	}
	_, other := newKey(t, "alice")
	if err := AddSigner(dir, Signer{Name: "alice", Key: other}); err == nil || !strings.Contains(err.Error(), "different key") {
		t.Errorf("overwrite with a different key: %v", err)
	}
	if err := AddSigner(dir, Signer{Name: "bob", Key: avkey}); err == nil || !strings.Contains(err.Error(), `key is for "alice"`) {
		t.Errorf("name mismatch: %v", err)
	}
	if err := AddSigner(dir, Signer{Name: "alice", Key: "alice+00000000+AAAA"}); err == nil {
		t.Error("malformed key accepted")
	}

	// Ignored: other files, hidden files, directories.
	writeFile(t, filepath.Join(dir, "README"), "not a signer")
	writeFile(t, filepath.Join(dir, ".alice.toml.123.tmp"), "junk")
	os.Mkdir(filepath.Join(dir, "sub.toml"), 0o755)
	if got, err := Signers(dir); err != nil || len(got) != 2 {
		t.Errorf("Signers with clutter = %v, %v", got, err)
	}
}

func TestSignersMalformed(t *testing.T) {
	_, avkey := newKey(t, "alice")
	tests := []struct{ name, file, body, want string }{
		{"syntax", "alice.toml", "name = ", "alice.toml"},
		{"unknown key", "alice.toml", "name = \"alice\"\nkey = \"" + avkey + "\"\ntrust = \"full\"\n", `unknown key "trust"`},
		{"missing key", "alice.toml", "name = \"alice\"\n", "name and key are required"},
		{"bad key", "alice.toml", "name = \"alice\"\nkey = \"alice+zz\"\n", "not a note verifier key"},
		{"wrong file name", "bob.toml", "name = \"alice\"\nkey = \"" + avkey + "\"\n", "must be named alice.toml"},
		{"bad time", "alice.toml", "name = \"alice\"\nkey = \"" + avkey + "\"\nvalid_until = \"soon\"\n", "alice.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tt.file), tt.body)
			_, err := Signers(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("err = %v, want %q and the file name", err, tt.want)
			}
		})
	}
	// Both TOML datetimes and RFC 3339 strings are read.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "alice.toml"), "name = \"alice\"\nkey = \""+avkey+"\"\nvalid_until = \"2027-01-01T00:00:00Z\"\nadded_at = 2026-01-01T00:00:00Z\n")
	got, err := Signers(dir)
	if err != nil || got[0].ValidUntil.Year() != 2027 || got[0].AddedAt.Year() != 2026 {
		t.Errorf("Signers = %+v, %v", got, err)
	}
}

func TestRevocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trust", "revoked.toml")
	if r, err := Revocations(path); err != nil || len(r) != 0 {
		t.Fatalf("missing file: %v, %v", r, err)
	}
	_, vkey := newKey(t, "alice")
	v, _ := note.NewVerifier(vkey)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	entries := []Revocation{
		{Kind: RevokeKey, Value: vkey, Reason: "stolen", At: at},
		{Kind: RevokeKey, Value: keyID("bob", 0xdeadbeef)},
		{Kind: RevokeDigest, Value: strings.ToUpper(goldenDigest[:10]) + goldenDigest[10:], Reason: "bad prompt"},
	}
	for _, r := range entries {
		if err := Revoke(path, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := Revoke(path, entries[0]); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	// Hand-written text is kept when appending.
	writeFile(t, path, string(readFile(t, path))+"# checked by ops")
	if err := Revoke(path, Revocation{Kind: RevokeKey, Value: keyID("carol", 1)}); err != nil {
		t.Fatal(err)
	}
	if text := string(readFile(t, path)); !strings.Contains(text, "# checked by ops\n") || strings.Count(text, "[[revoked]]") != 4 {
		t.Errorf("revoked.toml after append:\n%s", text)
	}
	entries = append(entries, Revocation{Kind: RevokeKey, Value: "carol+00000001"})
	got, err := Revocations(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[3].Value != "carol+00000001" {
		t.Fatalf("Revocations = %+v", got)
	}
	if got[0] != entries[0] {
		t.Errorf("entry 0 = %+v", got[0])
	}
	if got[1].Value != "bob+deadbeef" || got[1].At.IsZero() {
		t.Errorf("entry 1 = %+v", got[1])
	}
	if got[2].Value != goldenDigest || got[2].Reason != "bad prompt" {
		t.Errorf("entry 2 = %+v", got[2])
	}
	if id, err := revokedKeyID(vkey); err != nil || id != keyID("alice", v.KeyHash()) {
		t.Errorf("revokedKeyID = %q, %v", id, err)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries", len(ents))
	}

	for _, bad := range []Revocation{
		{Kind: "signer", Value: vkey},
		{Kind: RevokeKey, Value: "alice"},
		{Kind: RevokeKey, Value: "alice+xyz"},
		{Kind: RevokeKey, Value: "alice+1234+AAAA"},
		{Kind: RevokeDigest, Value: "sha256:abc"},
		{Kind: RevokeDigest, Value: "md5:" + strings.Repeat("0", 64)},
	} {
		if err := Revoke(path, bad); err == nil {
			t.Errorf("Revoke(%+v) succeeded", bad)
		}
	}

	for body, want := range map[string]string{
		"[[revoked]]\nkind = \"key\"\nvalue = \"x\"\n":                                "entry 1",
		"[[revoked]]\nkind = \"digest\"\nvalue = \"" + goldenDigest + "\"\nwhy = 1\n": `unknown key "revoked.why"`,
		"revoked = 3\n": "revoked.toml",
	} {
		p := filepath.Join(t.TempDir(), "revoked.toml")
		writeFile(t, p, body)
		if _, err := Revocations(p); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("Revocations(%q) = %v, want %q", body, err, want)
		}
	}
	if _, err := Revocations(t.TempDir()); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a directory: %v", err)
	}
}
