package risk

import (
	"strings"
	"testing"
)

// Test secrets are assembled from pieces so that secret scanners reading
// this repository do not mistake the fixtures for leaks.
var (
	fakeAWSKeyID     = "AKIA" + "Z4UEP3ENTHJXJQI5"
	fakeAWSSecret    = "nr3yBdGBLEPH1qhT61qt" + "c4xatws8phP9nhFyJfm5"
	fakeGitHub       = "ghp_" + "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
	fakeGitHubPAT    = "github_pat_" + "11ABCDEFG0aBcDeFgHiJkL_" + "mNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567"
	fakeSlack        = "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
	fakeOpenAI       = "sk-proj-" + "6UMFxFkM-R5Kjp1vRt_1fjORS-6ilI8ihN5KXSc7Tvo-hBKqFYY-kv5Z"
	fakeOpenAILegacy = "sk-" + "abcdefghij0123456789" + "T3BlbkFJ" + "abcdefghij0123456789"
	fakeAnthropic    = "sk-ant-" + "api03-Jr3J1TWDtkwtDDb_xHKas1VOqg6YYZYn9ZhyiA4uoRgnatmUdjAWtGSU8po_799NksnRH9ucAUsdMlHUvTCQCyEZDz-TdAA"
	fakeGoogle       = "AIza" + "dJ8HyS5SUkCnD8zRA9a9SkpXz9w3QlY7Zku"
	fakeStripe       = "sk_" + "live_" + "kibjL5DZPjN0MEQ7wjJJibaZ"
	fakeMirror       = "mos_" + "KLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnFRIBXuDL7"
	fakeJWT          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + "." +
		"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ" + "." +
		"SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	fakeKeyBody = "OL/zGGXifCn9qtU5KbRu/oNnVmsyW1EXuF0EVo11cLQEYlSEn0uD9RAc/OvJOvjg\n" +
		"GhVDRQrnxy5FwSHRbNnprdHyQmcmieuDkn6zUxZHDsywLmzlEkTwBKIWzUIVm9s4\n"
	fakePrivateKey = "-----BEGIN RSA " + "PRIVATE KEY-----\n" + fakeKeyBody + "-----END RSA " + "PRIVATE KEY-----"
)

type contentCase struct {
	name  string
	text  string
	kinds []string // kinds expected, in order of offset; nil means nothing
	value string   // the exact text the first finding must cover, if set
}

func checkContent(t *testing.T, tc contentCase) {
	t.Helper()
	fs := ScanContent("content", tc.text)
	var got []string
	for _, f := range fs {
		got = append(got, f.Kind)
		if f.Where != "content" || f.Offset < 0 || f.Offset+f.Length > len(tc.text) {
			t.Errorf("%q: finding out of range: %+v", tc.text, f)
			continue
		}
		value := tc.text[f.Offset : f.Offset+f.Length]
		if len(f.Hint) >= len(value) || strings.Contains(f.Hint, value) {
			t.Errorf("%q: hint %q reveals the value %q", tc.text, f.Hint, value)
		}
	}
	if strings.Join(got, ",") != strings.Join(tc.kinds, ",") {
		t.Errorf("ScanContent(%q) kinds = %v, want %v (%+v)", tc.text, got, tc.kinds, fs)
		return
	}
	if tc.value != "" && len(fs) > 0 {
		if v := tc.text[fs[0].Offset : fs[0].Offset+fs[0].Length]; v != tc.value {
			t.Errorf("ScanContent(%q) covers %q, want %q", tc.text, v, tc.value)
		}
	}
}

func TestSecretsAreFound(t *testing.T) {
	for _, tc := range []contentCase{
		{"an AWS access key id is found", "aws_access_key_id = " + fakeAWSKeyID, []string{"secret.aws_access_key"}, fakeAWSKeyID},
		{"an AWS secret key is found next to its keyword", `aws_secret_access_key = "` + fakeAWSSecret + `"`, []string{"secret.aws_secret_key"}, fakeAWSSecret},
		{"an AWS secret in JSON is found", `{"SecretAccessKey": "` + fakeAWSSecret + `"}`, []string{"secret.aws_secret_key"}, fakeAWSSecret},
		{"a PEM private key is found whole", "key:\n" + fakePrivateKey + "\n", []string{"secret.private_key"}, fakePrivateKey},
		{"a private key inside a JSON string is found", `{"key": "` + strings.ReplaceAll(fakePrivateKey, "\n", `\n`) + `"}`, []string{"secret.private_key"}, ""},
		{"a GitHub token is found", "GITHUB_TOKEN=" + fakeGitHub, []string{"secret.github_token"}, fakeGitHub},
		{"a fine-grained GitHub token is found", "token: " + fakeGitHubPAT, []string{"secret.github_token"}, fakeGitHubPAT},
		{"a Slack bot token is found", "SLACK=" + fakeSlack, []string{"secret.slack_token"}, fakeSlack},
		{"an OpenAI project key is found", "OPENAI_API_KEY=" + fakeOpenAI, []string{"secret.openai_key"}, fakeOpenAI},
		{"a legacy OpenAI key is found by its marker", "key " + fakeOpenAILegacy, []string{"secret.openai_key"}, fakeOpenAILegacy},
		{"an Anthropic key is found as such, not as OpenAI", "ANTHROPIC_API_KEY=" + fakeAnthropic, []string{"secret.anthropic_key"}, fakeAnthropic},
		{"a Google API key is found", `"apiKey": "` + fakeGoogle + `"`, []string{"secret.google_api_key"}, fakeGoogle},
		{"a Stripe live key is found", "stripe " + fakeStripe, []string{"secret.stripe_key"}, fakeStripe},
		{"a JWT is found", "Authorization: Bearer " + fakeJWT, []string{"secret.jwt"}, fakeJWT},
		{"a MirrorOS token is found", "MIRROR_TOKEN=" + fakeMirror, []string{"secret.mirror_token"}, fakeMirror},
		{"an env-file password is found", "DB_PASSWORD=hunter2Secret", []string{"secret.password_assignment"}, "hunter2Secret"},
		{"a JSON password is found", `{"user": "bob", "password": "S3cr3t!pass"}`, []string{"secret.password_assignment"}, "S3cr3t!pass"},
		{"a YAML passwd is found", "passwd: c0rrect-h0rse", []string{"secret.password_assignment"}, "c0rrect-h0rse"},
		{"a high-entropy token next to a keyword is found", `api_token: "Zx8Qm3Vt7Lp2Rk9Wn4Bc6Hd1Jf5Gs0Ay8Ue3Io7"`, []string{"secret.high_entropy"}, "Zx8Qm3Vt7Lp2Rk9Wn4Bc6Hd1Jf5Gs0Ay8Ue3Io7"},
		{"a hex secret next to a keyword is found", "secret = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", []string{"secret.high_entropy"}, ""},
		{"a git SHA next to a keyword is a secret", "token: 3f2a9c4e1b7d8f0a6c5e4d3b2a1f0e9d8c7b6a5f", []string{"secret.high_entropy"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { checkContent(t, tc) })
	}
}

func TestPersonalDataIsFound(t *testing.T) {
	for _, tc := range []contentCase{
		{"an email address is found", "contact jane.doe@acme-corp.io today", []string{"pii.email"}, "jane.doe@acme-corp.io"},
		{"an E.164 phone number is found", "call +1 415 555 2671", []string{"pii.phone"}, "+1 415 555 2671"},
		{"a compact E.164 number is found", "whatsapp +919876543210", []string{"pii.phone"}, "+919876543210"},
		{"a US number in national format is found", "office (415) 555-2671.", []string{"pii.phone"}, "(415) 555-2671"},
		{"a UK number with a trunk zero is found", "tel 020 7946 0958", []string{"pii.phone"}, "020 7946 0958"},
		{"an Indian mobile in 5-5 form is found", "mob 98765 43210", []string{"pii.phone"}, "98765 43210"},
		{"a Visa number with spaces is found", "card 4111 1111 1111 1111 exp 12/29", []string{"pii.card"}, "4111 1111 1111 1111"},
		{"a Mastercard number is found", "5555555555554444", []string{"pii.card"}, "5555555555554444"},
		{"an Amex number in 4-6-5 is found", "amex 3782-822463-10005", []string{"pii.card"}, "3782-822463-10005"},
		{"an Aadhaar number is found", "aadhaar: 2345 6789 0124", []string{"pii.aadhaar"}, "2345 6789 0124"},
		{"an Aadhaar number without spaces is found", "uid=234567890124;", []string{"pii.aadhaar"}, "234567890124"},
		{"a PAN is found", "PAN ABCPE1234F on file", []string{"pii.pan"}, "ABCPE1234F"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkContent(t, tc) })
	}
}

func TestNearMissesAreNotFound(t *testing.T) {
	for _, tc := range []contentCase{
		{"a Luhn-invalid card number is not a card", "card 4111 1111 1111 1112", nil, ""},
		{"a Luhn-valid number with an unknown prefix is not a card", "id 9111111111111111", nil, ""},
		{"a 12-digit number failing Verhoeff is not Aadhaar", "ref 2345 6789 0125", nil, ""},
		{"an Aadhaar-shaped run inside a longer number is not Aadhaar", "order 12345678901245", nil, ""},
		{"a version string is not a phone", "release 1.2.3.4 and 10.20.30.40", nil, ""},
		{"a date is not a phone", "due 2024-01-15 and 15/01/2024", nil, ""},
		{"an ISO timestamp is not a phone", "at 2024-01-15T10:30:00Z", nil, ""},
		{"a date and time is not a phone", "2024-01-15 10:30:00", nil, ""},
		{"an IP address is not a phone", "host 192.168.100.200", nil, ""},
		{"a plain long number is not a phone", "count 5551234567", nil, ""},
		{"a git SHA alone is not a secret", "commit 3f2a9c4e1b7d8f0a6c5e4d3b2a1f0e9d8c7b6a5f", nil, ""},
		{"a git log line is not a secret", "3f2a9c4 Merge branch 'auth-refactor'", nil, ""},
		{"a UUID is not a secret", "request 550e8400-e29b-41d4-a716-446655440000", nil, ""},
		{"a UUID after a keyword is not a high-entropy secret", "key: 550e8400-e29b-41d4-a716-446655440000", nil, ""},
		{"the AWS documentation example key is not a secret", "AKIA" + "IOSFODNN7EXAMPLE", nil, ""},
		{"a placeholder GitHub token is not a secret", "ghp_" + strings.Repeat("x", 36), nil, ""},
		{"a Stripe test key is not a live key", "sk_" + "test_" + "kibjL5DZPjN0MEQ7wjJJibaZ", nil, ""},
		{"a PEM header alone is not a key", `if strings.HasPrefix(s, "-----BEGIN PRIVATE KEY-----") {`, nil, ""},
		{"a public key is not a private key", "-----BEGIN PUBLIC KEY-----\n" + fakeKeyBody + "-----END PUBLIC KEY-----", nil, ""},
		{"a password type annotation is not a password", "password: string;", nil, ""},
		{"a password read from the environment is not a password", `password = os.getenv("DB_PASSWORD")`, nil, ""},
		{"a password field access is not a password", "password: req.body.password,", nil, ""},
		{"a password variable reference is not a password", "PASSWORD=${DB_PASSWORD}", nil, ""},
		{"a password comparison is not an assignment", `if password == "hunter2x" {`, nil, ""},
		{"a placeholder password is not a password", `"password": "changeme"`, nil, ""},
		{"a masked password is not a password", `password: "********"`, nil, ""},
		{"an ssh git address is not an email", "git@github.com:org/repo.git", nil, ""},
		{"a retina image name is not an email", "icon@2x.png", nil, ""},
		{"an example.com address is not personal", "user@example.com", nil, ""},
		{"a PAN with a wrong holder letter is not a PAN", "ABCXE1234F", nil, ""},
		{"a JWT-shaped string whose header is not JSON is not a JWT", "eyJub3QganNvbg.eyJhYmMiOjF9.c2lnbmF0dXJlMTIzNDU2Nzg5MA", nil, ""},
		{"a long identifier after a keyword is not a secret", "keyboard_layout_configuration_for_something_long_name", nil, ""},
		{"a path after a keyword is not a secret", "token: src/components/AuthProvider2/index.tsx", nil, ""},
		{"sk- in a hyphenated word is not an OpenAI key", "task-runner-for-scikit-learn-experiments-2024", nil, ""},
		{"empty text has no findings", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { checkContent(t, tc) })
	}
}

func TestHintsNeverRevealTheValue(t *testing.T) {
	text := strings.Join([]string{fakeAWSKeyID, fakeGitHub, fakeMirror, fakePrivateKey, "DB_PASSWORD=abcd1234", fakeJWT, "jane@acme.io", "4111 1111 1111 1111"}, "\n")
	for _, f := range ScanContent("x", text) {
		v := text[f.Offset : f.Offset+f.Length]
		if len(f.Hint) >= len(v) || strings.Contains(f.Hint, v) || (len(v) > 12 && strings.Contains(f.Hint, v[len(v)-12:])) {
			t.Errorf("%s hint %q reveals %q", f.Kind, f.Hint, v)
		}
	}
	if fs := ScanContent("x", fakeAWSKeyID); len(fs) != 1 || fs[0].Hint != "AKIA…(20 chars)" {
		t.Errorf("AWS hint = %+v", fs)
	}
}

func TestFindingsAreCapped(t *testing.T) {
	text := strings.Repeat("mail jane.doe@acme-corp.io\n", 1000)
	if n := len(ScanContent("x", text)); n != maxFindings {
		t.Fatalf("%d findings, want %d", n, maxFindings)
	}
}

func TestValidators(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		got  bool
	}{
		{"Luhn accepts a test Visa", true, luhn([]byte("4111111111111111"))},
		{"Luhn rejects a changed digit", false, luhn([]byte("4111111111111112"))},
		{"Verhoeff accepts a generated number", true, verhoeff([]byte("234567890124"))},
		{"Verhoeff rejects a changed check digit", false, verhoeff([]byte("234567890125"))},
		{"Verhoeff catches adjacent transpositions", false, verhoeff([]byte("324567890124"))},
		{"entropy of a repeated byte is zero", true, entropy("aaaa") == 0},
		{"entropy of four distinct bytes is two bits", true, entropy("abcd") == 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.ok {
				t.Fatalf("got %v", tc.got)
			}
		})
	}
}
