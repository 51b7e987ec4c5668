package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTemplateParsesBackToTheSameConfig(t *testing.T) {
	c := Default()
	c.Ledger.Name = "laptop"
	got, err := Parse([]byte(Template(c)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v, want %+v", got, c)
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	t.Setenv("MIRROR_TEST_PORT", "9999")
	c, err := Parse([]byte("[server]\naddr = \"127.0.0.1:${MIRROR_TEST_PORT}\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:9999" || c.Ledger.CheckpointInterval.Duration != DefaultCheckpointInterval {
		t.Fatalf("config = %+v", c)
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	for input, field := range map[string]string{
		"[server]\naddr = \"nope\"":                     "server.addr",
		"[server]\nmax_body_bytes = 1":                  "server.max_body_bytes",
		"[ledger]\nname = \"a/b\"":                      "ledger.name",
		"[ledger]\ncheckpoint_interval = \"1ms\"":       "ledger.checkpoint_interval",
		"[ledger]\nmax_batch = 0":                       "ledger.max_batch",
		"[log]\nlevel = \"loud\"":                       "log.level",
		"[log]\nformat = \"xml\"":                       "log.format",
		"[ledger]\nnmae = \"typo\"":                     "ledger.nmae",
		"[ledger]\ncheckpoint_interval = \"sometimes\"": "",
	} {
		_, err := Parse([]byte(input))
		if err == nil {
			t.Errorf("%q: accepted", input)
			continue
		}
		var fe *FieldError
		if field != "" && (!errors.As(err, &fe) || fe.Field != field) {
			t.Errorf("%q: error %v does not name %s", input, err, field)
		}
	}
}

func TestMalformedTOMLSaysWhere(t *testing.T) {
	_, err := Parse([]byte("[server]\naddr = \n"))
	if err == nil || !contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want a line number", err)
	}
}

func TestLoadMissingFileIsDefaults(t *testing.T) {
	c, err := Load(t.TempDir())
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("[log]\nlevel = \"debug\"\n"), 0o600)
	c, err = Load(dir)
	if err != nil || c.Log.Level != "debug" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestProvidersAliasesAndPricesAreValidated(t *testing.T) {
	good := `
[[providers]]
name = "lmstudio"
kind = "openai"
base_url = "http://127.0.0.1:1234/v1"
local = true

[aliases]
default = ["lmstudio/qwen", "openai/gpt-4o-mini"]

[prices]
"openai/my-finetune" = { input = 0.3, cached = 0.15, output = 1.2 }
`
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 1 || !c.Providers[0].Local || c.Aliases["default"][0] != "lmstudio/qwen" || c.Prices["openai/my-finetune"].Output != 1.2 {
		t.Fatalf("config = %+v", c)
	}
	for input, field := range map[string]string{
		"[[providers]]\nname = \"x\"\nkind = \"bard\"":                                                   "providers[0].kind",
		"[[providers]]\nname = \"a/b\"\nkind = \"openai\"":                                               "providers[0].name",
		"[[providers]]\nname = \"x\"\nkind = \"openai\"\nbase_url = \"ftp://h\"":                         "providers[0].base_url",
		"[[providers]]\nname = \"x\"\nkind = \"openai\"\n[[providers]]\nname = \"x\"\nkind = \"ollama\"": "providers[1].name",
		"[aliases]\nfast = [\"gpt\"]":                                                                    "aliases.fast",
		"[prices]\n\"gpt\" = { input = 1.0 }":                                                            "prices.gpt",
		"[prices]\n\"openai/x\" = { input = -1.0 }":                                                      "prices.openai/x",
	} {
		_, err := Parse([]byte(input))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%q: error %v does not name %s", input, err, field)
		}
	}
}
