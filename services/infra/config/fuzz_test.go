package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzLoadFile feeds LoadFile arbitrary files. Whatever the bytes, it must
// not panic; a refusal must name the file (the operator has to know which
// one to fix) and leave the destination exactly as it was, as LoadFile
// promises; an accepted file must survive Validate's walk of the result.
func FuzzLoadFile(f *testing.F) {
	seeds := []string{
		// Every shape sample decodes, as TestLoadFile's first case.
		"listen: 127.0.0.1:9000\ntimeout: 45s\nworkers: 4\ndebug: true\norigins: [a, b]\n" +
			"tls: {cert_file: c.pem, key_file: k.pem}\ndb: {cert_file: db.pem}\nclients:\n  - id: one\n    scopes: [x]\n" +
			"labels:\n  l1: {id: two}\nlog_level: debug\nextra: {anything: [1, 2], goes: here}\nlevel: high\nnotag: yes\n",
		"",
		"# nothing\n",
		"tls: &t {cert_file: m.pem}\ndb:\n  <<: *t\n  key_file: k\n",
		"tls: &t {cert_file: a}\ndb:\n  <<: [*t, {zzz: 1}]\n",
		"a: &a [*a]\n",
		"extra: &x {y: *x}\n",
		"workers: 1\nworkers: 2\n",
		"workers: 1\n---\nworkers: 2\n",
		"timeout: 30\n",
		"- a\n- b\n",
		"tls: [\n",
		"!!binary aGVsbG8=\n",
		"extra: {? [a, b] : c}\n",
	}
	// The real service configurations: their keys are unknown to sample, but
	// their structure is what operators write.
	for _, glob := range []string{"../../../deployments/*/config/*.yml"} {
		files, err := filepath.Glob(glob)
		require.NoError(f, err)
		require.NotEmpty(f, files, "no configuration matches %s", glob)
		for _, p := range files {
			data, err := os.ReadFile(p)
			require.NoError(f, err)
			seeds = append(seeds, string(data))
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "svc.yml")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		defaults := sample{Listen: "default", Workers: 1, Origins: []string{"o"}, Labels: map[string]client{"d": {ID: "d"}}}
		got := defaults
		got.Origins = append([]string(nil), defaults.Origins...)
		got.Labels = map[string]client{"d": {ID: "d"}}
		err := LoadFile(path, &got)
		if err != nil {
			require.True(t, strings.Contains(err.Error(), path), "the error does not name the file: %v", err)
			require.Equal(t, defaults, got, "a refused file changed the destination: %v", err)
			return
		}
		_ = Validate(&got)
	})
}
