package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tlsConfig struct {
	CertFile string `yaml:"cert_file" env:"PT_TLS_CERT"`
	KeyFile  string `yaml:"key_file"`
}

type client struct {
	ID     string   `yaml:"id"`
	Scopes []string `yaml:"scopes"`
}

type common struct {
	LogLevel string `yaml:"log_level" env:"PT_LOG_LEVEL"`
}

// level decodes itself, so the key checker must not look inside it.
type level struct{ v string }

func (l *level) UnmarshalYAML(unmarshal func(any) error) error { return unmarshal(&l.v) }

type sample struct {
	Listen   string            `yaml:"listen" env:"PT_LISTEN"`
	Timeout  time.Duration     `yaml:"timeout" env:"PT_TIMEOUT"`
	Workers  int               `yaml:"workers" env:"PT_WORKERS"`
	Debug    bool              `yaml:"debug" env:"PT_DEBUG"`
	Origins  []string          `yaml:"origins" env:"PT_ORIGINS"`
	TLS      tlsConfig         `yaml:"tls"`
	DB       *tlsConfig        `yaml:"db"`
	Clients  []client          `yaml:"clients"`
	Labels   map[string]client `yaml:"labels"`
	Common   common            `yaml:",inline"`
	Extra    map[string]any    `yaml:"extra"`
	Level    level             `yaml:"level"`
	Ignored  string            `yaml:"-"`
	NoTag    string
	internal string
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		yaml    string
		want    func(*sample)
		wantErr []string // substrings, all required
		unknown bool     // error wraps ErrUnknownKey
	}{
		{
			desc: "all supported shapes decode",
			yaml: `listen: 127.0.0.1:9000
timeout: 45s
workers: 4
debug: true
origins: [a, b]
tls: {cert_file: c.pem, key_file: k.pem}
db: {cert_file: db.pem}
clients:
  - id: one
    scopes: [x]
labels:
  l1: {id: two}
log_level: debug
extra: {anything: [1, 2], goes: here}
level: high
notag: yes-lowercased
`,
			want: func(s *sample) {
				s.Listen, s.Timeout, s.Workers, s.Debug = "127.0.0.1:9000", 45*time.Second, 4, true
				s.Origins = []string{"a", "b"}
				s.TLS = tlsConfig{CertFile: "c.pem", KeyFile: "k.pem"}
				s.DB = &tlsConfig{CertFile: "db.pem"}
				s.Clients = []client{{ID: "one", Scopes: []string{"x"}}}
				s.Labels = map[string]client{"l1": {ID: "two"}}
				s.Common.LogLevel = "debug"
				s.Extra = map[string]any{"anything": []any{1, 2}, "goes": "here"}
				s.Level = level{v: "high"}
				s.NoTag = "yes-lowercased"
			},
		},
		{desc: "empty file keeps defaults", yaml: "", want: func(*sample) {}},
		{desc: "comment-only file keeps defaults", yaml: "# nothing\n", want: func(*sample) {}},
		{desc: "partial file overrides only its keys", yaml: "workers: 9\n", want: func(s *sample) { s.Workers = 9 }},
		{
			desc: "anchor under an unknown key is still unknown",
			yaml: "base: &b {cert_file: m.pem}\n",
			// "base" itself is unknown: anchors must still live under real keys.
			wantErr: []string{`:1:1: unknown key "base"`}, unknown: true,
		},
		{
			desc: "merge from alias inside known structure",
			yaml: "tls: &t {cert_file: m.pem}\ndb:\n  <<: *t\n  key_file: k\n",
			want: func(s *sample) { s.TLS.CertFile = "m.pem"; s.DB = &tlsConfig{CertFile: "m.pem", KeyFile: "k"} },
		},
		{desc: "unknown top-level key names key and line", yaml: "listen: x\nlisten_addr: y\n", wantErr: []string{`:2:1: unknown key "listen_addr"`}, unknown: true},
		{desc: "unknown nested key has dotted path", yaml: "tls:\n  cert_file: a\n  cert_fil: b\n", wantErr: []string{`:3:3: unknown key "tls.cert_fil"`}, unknown: true},
		{desc: "unknown key in list item", yaml: "clients:\n  - id: a\n  - idd: b\n", wantErr: []string{`:3:5: unknown key "clients[1].idd"`}, unknown: true},
		{desc: "unknown key in map value", yaml: "labels:\n  x:\n    scope: a\n", wantErr: []string{`:3:5: unknown key "labels.x.scope"`}, unknown: true},
		{desc: "unknown key via pointer struct", yaml: "db:\n  nope: 1\n", wantErr: []string{`unknown key "db.nope"`}, unknown: true},
		{desc: "unknown key inside merged alias", yaml: "tls: &t {cert_file: a, bogus: 1}\n", wantErr: []string{`unknown key "tls.bogus"`}, unknown: true},
		{desc: "unknown key through merge sequence", yaml: "tls: &t {cert_file: a}\ndb:\n  <<: [*t, {zzz: 1}]\n", wantErr: []string{`:3:13: unknown key "db.zzz"`}, unknown: true},
		{desc: "skipped field is unknown in YAML", yaml: "ignored: x\n", wantErr: []string{`unknown key "ignored"`}, unknown: true},
		{desc: "unexported field is unknown in YAML", yaml: "internal: x\n", wantErr: []string{`unknown key "internal"`}, unknown: true},
		{desc: "all unknown keys reported at once", yaml: "a: 1\nb: 2\n", wantErr: []string{`:1:1: unknown key "a"`, `:2:1: unknown key "b"`}, unknown: true},
		{desc: "type mismatch", yaml: "workers: many\n", wantErr: []string{"svc.yml:1: workers: cannot unmarshal", "many"}},
		{desc: "duration must be a duration", yaml: "timeout: soon\n", wantErr: []string{"soon"}},
		{desc: "bare integer is not a duration", yaml: "timeout: 30\n", wantErr: []string{"svc.yml:1: timeout: cannot unmarshal", "30"}},
		{desc: "duplicate key", yaml: "workers: 1\nworkers: 2\n", wantErr: []string{`"workers" already defined`}},
		{desc: "two documents", yaml: "workers: 1\n---\nworkers: 2\n", wantErr: []string{"exactly one YAML document"}},
		{desc: "syntax error", yaml: "tls: [\n", wantErr: []string{"yaml"}},
		{desc: "top level must be a mapping", yaml: "- a\n- b\n", wantErr: []string{"cannot unmarshal"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p := write(t, t.TempDir(), "svc.yml", tc.yaml)
			defaults := sample{Listen: "default", Workers: 1}
			got := defaults
			err := LoadFile(p, &got)
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				assert.Contains(t, err.Error(), p, "error names the file")
				assert.Equal(t, tc.unknown, errors.Is(err, ErrUnknownKey))
				return
			}
			require.NoError(t, err)
			want := defaults
			tc.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := write(t, dir, "ok.yml", "workers: 1\n")
	big := write(t, dir, "big.yml", "# "+strings.Repeat("x", maxFileSize)+"\n")
	var s sample
	tests := []struct {
		desc    string
		path    string
		dst     any
		wantErr string
	}{
		{desc: "missing file", path: filepath.Join(dir, "absent.yml"), dst: &s, wantErr: "no such file"},
		{desc: "directory", path: dir, dst: &s, wantErr: "not a regular file"},
		{desc: "too large", path: big, dst: &s, wantErr: "larger than"},
		{desc: "nil destination", path: ok, dst: nil, wantErr: "non-nil pointer to a struct"},
		{desc: "non-pointer destination", path: ok, dst: s, wantErr: "non-nil pointer to a struct"},
		{desc: "pointer to non-struct", path: ok, dst: new(int), wantErr: "non-nil pointer to a struct"},
		{desc: "typed nil pointer", path: ok, dst: (*sample)(nil), wantErr: "non-nil pointer to a struct"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := LoadFile(tc.path, tc.dst)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestLoadSearch(t *testing.T) {
	t.Parallel()
	type files struct{ etc, xdg, home bool }
	tests := []struct {
		desc     string
		files    files
		xdgEnv   string // "" unset; "rel" a relative (invalid) value; "abs" the temp xdg dir
		explicit string // "" none; "missing"; "given"
		wantFrom string // "etc", "xdg", "home", "given", "" (none)
		wantErr  string
	}{
		{desc: "nothing found keeps defaults", wantFrom: ""},
		{desc: "etc wins over xdg", files: files{etc: true, xdg: true}, xdgEnv: "abs", wantFrom: "etc"},
		{desc: "xdg used when etc absent", files: files{xdg: true}, xdgEnv: "abs", wantFrom: "xdg"},
		{desc: "home .config when XDG_CONFIG_HOME unset", files: files{home: true}, wantFrom: "home"},
		{desc: "relative XDG_CONFIG_HOME is ignored", files: files{home: true}, xdgEnv: "rel", wantFrom: "home"},
		{desc: "home .config not searched when XDG_CONFIG_HOME set", files: files{home: true}, xdgEnv: "abs", wantFrom: ""},
		{desc: "explicit file used even if etc exists", files: files{etc: true}, explicit: "given", wantFrom: "given"},
		{desc: "explicit file must exist", files: files{etc: true}, explicit: "missing", wantErr: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			etc, xdg, home := filepath.Join(root, "etc"), filepath.Join(root, "xdg"), filepath.Join(root, "home")
			content := func(from string) string { return "listen: " + from + "\n" }
			if tc.files.etc {
				write(t, etc, "kms.yml", content("etc"))
			}
			if tc.files.xdg {
				write(t, xdg, "passthru/kms.yml", content("xdg"))
			}
			if tc.files.home {
				write(t, home, ".config/passthru/kms.yml", content("home"))
			}
			env := map[string]string{}
			switch tc.xdgEnv {
			case "abs":
				env["XDG_CONFIG_HOME"] = xdg
			case "rel":
				env["XDG_CONFIG_HOME"] = "relative/dir"
			}
			s := searcher{etcDir: etc, getenv: func(k string) string { return env[k] }, homeDir: func() (string, error) { return home, nil }}
			explicit := ""
			switch tc.explicit {
			case "given":
				explicit = write(t, root, "given.yml", content("given"))
			case "missing":
				explicit = filepath.Join(root, "missing.yml")
			}
			got := sample{Listen: "default"}
			path, err := s.load("kms", explicit, &got)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.wantFrom == "" {
				assert.Empty(t, path)
				assert.Equal(t, "default", got.Listen)
				return
			}
			assert.Equal(t, tc.wantFrom, got.Listen)
			assert.FileExists(t, path)
		})
	}
}

func TestLoadSearchErrors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bad := write(t, root, "etc/kms.yml", "nope: 1\n")
	blocked := filepath.Join(root, "blocked")
	require.NoError(t, os.MkdirAll(blocked, 0o755))
	noHome := func() (string, error) { return "", errors.New("no home") }
	tests := []struct {
		desc    string
		svc     string
		s       searcher
		wantErr string
	}{
		{desc: "invalid service name", svc: "../etc/passwd", s: searcher{etcDir: root, getenv: os.Getenv, homeDir: noHome}, wantErr: "invalid service name"},
		{desc: "empty service name", svc: "", s: searcher{etcDir: root, getenv: os.Getenv, homeDir: noHome}, wantErr: "invalid service name"},
		{desc: "found file with unknown key is an error", svc: "kms", s: searcher{etcDir: filepath.Dir(bad), getenv: func(string) string { return "" }, homeDir: noHome}, wantErr: `unknown key "nope"`},
		{desc: "unstatable candidate is an error, not skipped", svc: "kms", s: searcher{etcDir: filepath.Join(bad, "sub"), getenv: func(string) string { return "" }, homeDir: noHome}, wantErr: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var got sample
			_, err := tc.s.load(tc.svc, "", &got)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	t.Run("explicit file with error", func(t *testing.T) {
		var got sample
		_, err := Load("kms", bad, &got)
		require.ErrorIs(t, err, ErrUnknownKey)
	})
}

func TestSearchPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		s    searcher
		want []string
	}{
		{
			desc: "xdg set",
			s:    searcher{etcDir: "/etc/passthru", getenv: func(string) string { return "/x" }, homeDir: func() (string, error) { return "/home/u", nil }},
			want: []string{"/etc/passthru/kms.yml", "/x/passthru/kms.yml"},
		},
		{
			desc: "xdg unset",
			s:    searcher{etcDir: "/etc/passthru", getenv: func(string) string { return "" }, homeDir: func() (string, error) { return "/home/u", nil }},
			want: []string{"/etc/passthru/kms.yml", "/home/u/.config/passthru/kms.yml"},
		},
		{
			desc: "no home",
			s:    searcher{etcDir: "/etc/passthru", getenv: func(string) string { return "" }, homeDir: func() (string, error) { return "", errors.New("none") }},
			want: []string{"/etc/passthru/kms.yml"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.s.paths("kms"))
		})
	}
	assert.Equal(t, "/etc/passthru/identity.yml", SearchPaths("identity")[0])
}

type envSample struct {
	Listen  string        `env:"E_LISTEN"`
	Timeout time.Duration `env:"E_TIMEOUT"`
	Port    int           `env:"E_PORT"`
	Small   int8          `env:"E_SMALL"`
	Count   uint16        `env:"E_COUNT"`
	Ratio   float64       `env:"E_RATIO"`
	Debug   bool          `env:"E_DEBUG"`
	Origins []string      `env:"E_ORIGINS"`
	Addr    netip.Addr    `env:"E_ADDR"`
	Nested  struct {
		Level string `env:"E_LEVEL"`
	}
	Opt *struct {
		Name string `env:"E_OPT_NAME"`
	}
	Kept *struct {
		Name string `env:"E_KEPT_NAME"`
	}
	NoEnv    string
	internal string `env:"E_INTERNAL"`
}

func TestApplyEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		env     map[string]string
		want    func(*envSample)
		wantErr []string
	}{
		{desc: "nothing set keeps values", env: map[string]string{}, want: func(*envSample) {}},
		{
			desc: "every supported type",
			env: map[string]string{
				"E_LISTEN": "0.0.0.0:1", "E_TIMEOUT": "1m30s", "E_PORT": "-8", "E_SMALL": "127", "E_COUNT": "65535",
				"E_RATIO": "0.25", "E_DEBUG": "true", "E_ORIGINS": " a, b ,,c ", "E_ADDR": "::1", "E_LEVEL": "warn",
			},
			want: func(s *envSample) {
				s.Listen, s.Timeout, s.Port, s.Small, s.Count, s.Ratio, s.Debug = "0.0.0.0:1", 90*time.Second, -8, 127, 65535, 0.25, true
				s.Origins = []string{"a", "b", "c"}
				s.Addr = netip.MustParseAddr("::1")
				s.Nested.Level = "warn"
			},
		},
		{desc: "empty list clears", env: map[string]string{"E_ORIGINS": ""}, want: func(s *envSample) { s.Origins = []string{} }},
		{desc: "empty string is a value", env: map[string]string{"E_LISTEN": ""}, want: func(s *envSample) { s.Listen = "" }},
		{
			desc: "nil pointer struct allocated only when set",
			env:  map[string]string{"E_OPT_NAME": "o"},
			want: func(s *envSample) {
				s.Opt = &struct {
					Name string `env:"E_OPT_NAME"`
				}{Name: "o"}
			},
		},
		{
			desc: "existing pointer struct updated",
			env:  map[string]string{"E_KEPT_NAME": "new"},
			want: func(s *envSample) { s.Kept.Name = "new" },
		},
		{desc: "unexported field ignored", env: map[string]string{"E_INTERNAL": "x"}, want: func(*envSample) {}},
		{desc: "bad int", env: map[string]string{"E_PORT": "eighty"}, wantErr: []string{"E_PORT", "envSample.Port", `invalid integer "eighty"`}},
		{desc: "int overflow", env: map[string]string{"E_SMALL": "128"}, wantErr: []string{"E_SMALL", "invalid integer"}},
		{desc: "negative unsigned", env: map[string]string{"E_COUNT": "-1"}, wantErr: []string{"E_COUNT", "invalid unsigned integer"}},
		{desc: "bad float", env: map[string]string{"E_RATIO": "half"}, wantErr: []string{"E_RATIO", "invalid number"}},
		{desc: "bad bool", env: map[string]string{"E_DEBUG": "yes please"}, wantErr: []string{"E_DEBUG", "invalid boolean"}},
		{desc: "bad duration", env: map[string]string{"E_TIMEOUT": "30"}, wantErr: []string{"E_TIMEOUT", "invalid duration"}},
		{desc: "bad text value", env: map[string]string{"E_ADDR": "not-an-ip"}, wantErr: []string{"E_ADDR", "invalid value"}},
		{desc: "several errors reported together", env: map[string]string{"E_PORT": "x", "E_DEBUG": "y"}, wantErr: []string{"E_PORT", "E_DEBUG"}},
		{
			desc:    "valid variables beside a bad one are not applied",
			env:     map[string]string{"E_LISTEN": "0.0.0.0:9", "E_KEPT_NAME": "new", "E_OPT_NAME": "o", "E_PORT": "eighty"},
			wantErr: []string{"E_PORT"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			got := envSample{Listen: "default", Origins: []string{"d"}, Kept: &struct {
				Name string `env:"E_KEPT_NAME"`
			}{Name: "old"}}
			want := got
			want.Kept = &struct {
				Name string `env:"E_KEPT_NAME"`
			}{Name: "old"}
			err := ApplyEnv(&got, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				assert.Equal(t, want, got, "a failed ApplyEnv changes nothing")
				return
			}
			require.NoError(t, err)
			tc.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestApplyEnvRefusesBadDeclarations(t *testing.T) {
	t.Parallel()
	type secretEnv struct {
		TokenFile string `yaml:"token_file" secret:"true" env:"E_TOKEN_FILE"`
	}
	type nestedSecret struct {
		Inner struct {
			Password string `secret:"true" env:"E_PASSWORD"`
		}
	}
	type unsupported struct {
		Ports []int `env:"E_PORTS"`
	}
	type emptyTag struct {
		X string `env:""`
	}
	tests := []struct {
		desc    string
		dst     any
		wantErr []string
	}{
		{desc: "secret with env tag refused even when unset", dst: &secretEnv{}, wantErr: []string{"secretEnv.TokenFile", "E_TOKEN_FILE", "secret"}},
		{desc: "nested secret with env tag names its path", dst: &nestedSecret{}, wantErr: []string{"nestedSecret.Inner.Password", "E_PASSWORD"}},
		{desc: "unsupported type", dst: &unsupported{}, wantErr: []string{"unsupported.Ports", "unsupported type []int"}},
		{desc: "empty env tag", dst: &emptyTag{}, wantErr: []string{"emptyTag.X", "empty env tag"}},
		{desc: "nil destination", dst: nil, wantErr: []string{"non-nil pointer"}},
		{desc: "non-pointer destination", dst: emptyTag{}, wantErr: []string{"non-nil pointer"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := ApplyEnv(tc.dst, func(string) (string, bool) { return "", false })
			require.Error(t, err)
			for _, w := range tc.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestApplyEnvDefaultLookup(t *testing.T) {
	// t.Setenv forbids t.Parallel: this test owns the process environment.
	t.Setenv("PASSTHRU_CONFIG_TEST_LISTEN", "from-env")
	var s struct {
		Listen string `env:"PASSTHRU_CONFIG_TEST_LISTEN"`
	}
	require.NoError(t, ApplyEnv(&s, nil))
	assert.Equal(t, "from-env", s.Listen)
}

func TestReadSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		desc    string
		content string
		path    string // overrides the written file
		want    string
		wantErr error
		errText string
	}{
		{desc: "plain", content: "s3cret", want: "s3cret"},
		{desc: "one trailing newline trimmed", content: "s3cret\n", want: "s3cret"},
		{desc: "only one newline trimmed", content: "s3cret\n\n", want: "s3cret\n"},
		{desc: "CRLF trimmed", content: "s3cret\r\n", want: "s3cret"},
		{desc: "inner whitespace kept", content: " a b \n", want: " a b "},
		{desc: "binary kept", content: "\x00\xff", want: "\x00\xff"},
		{desc: "empty refused", content: "", wantErr: ErrEmptySecret},
		{desc: "lone newline refused", content: "\n", wantErr: ErrEmptySecret},
		{desc: "too large refused", content: strings.Repeat("x", maxSecretSize+1), errText: "larger than"},
		{desc: "missing file", path: filepath.Join(dir, "absent"), errText: "no such file"},
		{desc: "directory refused", path: dir, errText: "not a regular file"},
	}
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p := tc.path
			if p == "" {
				p = write(t, dir, fmt.Sprintf("secret-%d", i), tc.content)
			}
			got, err := ReadSecret(p)
			switch {
			case tc.wantErr != nil:
				require.ErrorIs(t, err, tc.wantErr)
			case tc.errText != "":
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errText)
			default:
				require.NoError(t, err)
				assert.Equal(t, tc.want, string(got))
			}
		})
	}
}

func TestCheckSecretMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		desc    string
		mode    os.FileMode
		missing bool
		wantErr bool
	}{
		{desc: "0600 fine", mode: 0o600},
		{desc: "0400 fine", mode: 0o400},
		{desc: "0640 group readable", mode: 0o640, wantErr: true},
		{desc: "0644 world readable", mode: 0o644, wantErr: true},
		{desc: "0602 world writable", mode: 0o602, wantErr: true},
		{desc: "missing file", missing: true, wantErr: true},
	}
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(dir, fmt.Sprintf("s%d", i))
			if !tc.missing {
				require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
				require.NoError(t, os.Chmod(p, tc.mode))
			}
			err := CheckSecretMode(p)
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, !tc.missing, errors.Is(err, ErrSecretPermissions))
		})
	}
}

type vTLS struct {
	CertFile string `yaml:"cert_file"`
}

func (v vTLS) Validate() error {
	if v.CertFile == "" {
		return errors.New("cert_file is required")
	}
	return nil
}

type vPort int

func (p *vPort) Validate() error {
	if *p <= 0 || *p > 65535 {
		return fmt.Errorf("port %d out of range", int(*p))
	}
	return nil
}

type vClient struct {
	ID string `yaml:"id"`
}

func (c *vClient) Validate() error {
	if c.ID == "" {
		return errors.New("id is required")
	}
	return nil
}

type vRoot struct {
	Name    string             `yaml:"name"`
	Port    vPort              `yaml:"port"`
	TLS     vTLS               `yaml:"tls"`
	Opt     *vTLS              `yaml:"opt"`
	Clients []vClient          `yaml:"clients"`
	ByName  map[string]vClient `yaml:"by_name"`
	Any     any                `yaml:"any"`
	Inline  vInline            `yaml:",inline"`
	Skipped vTLS               `yaml:"-"`
	Raw     []byte             `yaml:"raw"`
	hidden  vTLS
}

type vInline struct {
	Mode vMode `yaml:"mode"`
}

type vMode string

func (m vMode) Validate() error {
	if m != "" && m != "a" {
		return fmt.Errorf("mode %q unknown", string(m))
	}
	return nil
}

func (r *vRoot) Validate() error {
	if r.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func() vRoot {
		return vRoot{Name: "n", Port: 443, TLS: vTLS{CertFile: "c"}, Skipped: vTLS{CertFile: "s"}, hidden: vTLS{}}
	}
	tests := []struct {
		desc    string
		mutate  func(*vRoot)
		byValue bool
		want    []string // each must appear; empty means valid
	}{
		{desc: "valid"},
		{desc: "valid by value", byValue: true},
		{desc: "top-level error has no prefix", mutate: func(r *vRoot) { r.Name = "" }, want: []string{"name is required"}},
		{desc: "pointer-receiver on non-struct field", mutate: func(r *vRoot) { r.Port = 0 }, want: []string{"port: port 0 out of range"}},
		{desc: "nested struct value receiver", mutate: func(r *vRoot) { r.TLS.CertFile = "" }, want: []string{"tls: cert_file is required"}},
		{desc: "non-nil pointer validated", mutate: func(r *vRoot) { r.Opt = &vTLS{} }, want: []string{"opt: cert_file is required"}},
		{desc: "slice elements with index", mutate: func(r *vRoot) { r.Clients = []vClient{{ID: "a"}, {}} }, want: []string{"clients[1]: id is required"}},
		{desc: "map values with key, pointer receiver", mutate: func(r *vRoot) { r.ByName = map[string]vClient{"zed": {}, "abe": {}} }, want: []string{"by_name.abe: id is required\nby_name.zed: id is required"}},
		{desc: "interface holding validator", mutate: func(r *vRoot) { r.Any = vTLS{} }, want: []string{"any: cert_file is required"}},
		{desc: "inline fields have no extra segment", mutate: func(r *vRoot) { r.Inline.Mode = "b" }, want: []string{`mode: mode "b" unknown`}},
		{desc: "yaml-skipped field uses Go name", mutate: func(r *vRoot) { r.Skipped.CertFile = "" }, want: []string{"Skipped: cert_file is required"}},
		{desc: "errors joined", mutate: func(r *vRoot) { r.Name = ""; r.TLS.CertFile = "" }, want: []string{"name is required", "tls: cert_file is required"}},
		{desc: "errors found by value too", byValue: true, mutate: func(r *vRoot) { r.Port = 70000 }, want: []string{"port: port 70000 out of range"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := valid()
			if tc.mutate != nil {
				tc.mutate(&r)
			}
			var err error
			if tc.byValue {
				err = Validate(r)
			} else {
				err = Validate(&r)
			}
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestValidateEdgeCases(t *testing.T) {
	t.Parallel()
	type cyc struct {
		Next *cyc
	}
	loop := &cyc{}
	loop.Next = loop
	tests := []struct {
		desc    string
		v       any
		wantErr bool
	}{
		{desc: "nil", v: nil, wantErr: true},
		{desc: "nil pointer", v: (*vRoot)(nil)},
		{desc: "plain value without validators", v: 42},
		{desc: "pointer cycle terminates", v: loop},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := Validate(tc.v)
			assert.Equal(t, tc.wantErr, err != nil, "err = %v", err)
		})
	}
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc     string
		path     string
		err      error
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{desc: "valid file", path: "/etc/passthru/kms.yml", wantCode: 0, wantOut: "config OK: /etc/passthru/kms.yml\n"},
		{desc: "no file", wantCode: 0, wantOut: "config OK: no config file found, defaults apply\n"},
		{desc: "invalid goes to stderr", path: "x.yml", err: errors.New("tls: cert_file is required"), wantCode: 1, wantErr: "config invalid: tls: cert_file is required\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tc.wantCode, CheckConfig(&stdout, &stderr, tc.path, tc.err))
			assert.Equal(t, tc.wantOut, stdout.String())
			assert.Equal(t, tc.wantErr, stderr.String())
		})
	}
}

// TestLoadFileErrorChangesNothing: yaml keeps decoding after a type error, so
// a file with one bad value must not leave the destination half-updated with
// the file's other values.
func TestLoadFileErrorChangesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		desc    string
		content string
		wantErr string
	}{
		{desc: "type error after good values", content: "listen: 0.0.0.0:1\nworkers: many\ndebug: true\n", wantErr: ":2: workers: cannot unmarshal"},
		{desc: "type error in a nested struct", content: "listen: 0.0.0.0:1\ndb:\n  cert_file: x\nclients: {id: 1}\n", wantErr: ":4: clients: cannot unmarshal"},
		{desc: "type error names the nested key", content: "tls:\n  cert_file: [a, b]\n", wantErr: ":2: tls.cert_file: cannot unmarshal"},
		{desc: "type error names the list item", content: "origins:\n  - a\n  - {x: 1}\n", wantErr: ":3: origins[1]: cannot unmarshal"},
	}
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p := write(t, dir, fmt.Sprintf("bad%d.yml", i), tc.content)
			got := sample{Listen: "127.0.0.1:8081", Workers: 4}
			want := got
			err := LoadFile(p, &got)
			require.ErrorContains(t, err, tc.wantErr)
			assert.Equal(t, want, got, "a failed load changes nothing")
		})
	}
}
