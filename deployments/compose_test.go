package deployments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/passthru-dev/passthru/deployments/stackinit"
	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
)

// passthruBinaries are the service binaries of our images, by the path the
// compose services run them at.
var passthruBinaries = map[string]func(args []string, stdout, stderr io.Writer) int{
	"/usr/local/bin/kms":      kmsserver.Main,
	"/usr/local/bin/identity": identityserver.Main,
}

// stack is every compose file under this directory, parsed, with the
// bootstrap's output in a temporary run dir standing in for deployments/.run.
type stack struct {
	root  string // the project directory: relative paths of every file resolve here
	files []*composeFile
	vars  map[string]string // the interpolation environment
	runTo string            // where the bootstrap wrote
}

func loadStack(t *testing.T, dir string) (*stack, error) {
	t.Helper()
	paths, err := composeFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no compose file under %s", dir)
	}
	run := t.TempDir()
	require.NoError(t, stackinit.Run(stackinit.Options{Dir: run, UID: os.Getuid(), GID: os.Getgid()}))
	s := &stack{root: dir, runTo: run, vars: map[string]string{
		// What the bootstrap made, in place of the defaults ./.run/...
		"PASSTHRU_SECRETS_DIR": filepath.Join(run, stackinit.SecretsDir),
		"PASSTHRU_TLS_DIR":     filepath.Join(run, stackinit.TLSDir),
	}}
	for _, p := range paths {
		f, err := readCompose(p)
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	return s, nil
}

// hostPath resolves a compose path (interpolated, relative to the project
// directory: files combined with -f resolve against the first one's, which
// is compose.yml's); the bootstrap's run dir stands in for ./.run.
func (s *stack) hostPath(f *composeFile, p string) (string, error) {
	p, err := interpolate(p, s.vars)
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(p, "./.run/"); ok {
		return filepath.Join(s.runTo, rest), nil
	}
	if filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.Join(s.root, p), nil
}

// binary is the passthru binary a service runs ("" for any other image).
func binary(svc *service) string {
	if len(svc.Entrypoint) > 0 {
		if _, ok := passthruBinaries[svc.Entrypoint[0]]; ok {
			return svc.Entrypoint[0]
		}
	}
	return ""
}

// configOf is the host path of the config file a service mounts at
// /etc/passthru/<name>.yml.
func (s *stack) configOf(f *composeFile, svc *service) (string, error) {
	bin := binary(svc)
	want := "/etc/passthru/" + filepath.Base(bin) + ".yml"
	for _, m := range svc.Volumes {
		if m.Target == want && m.Type == "bind" {
			return s.hostPath(f, m.Source)
		}
	}
	return "", fmt.Errorf("no bind mount of a config file at %s", want)
}

// checkReferences: every secret, volume and network a service uses is
// declared in its file, every declared one is used, and every file behind a
// secret or a bind mount exists once the bootstrap ran (secrets: a regular
// file, never a directory Docker would create in its place).
func (s *stack) checkReferences(f *composeFile, decl *composeFile, used map[string]bool) error {
	var errs []error
	for name, svc := range f.Services {
		for _, sec := range svc.Secrets {
			if _, ok := decl.Secrets[sec.Source]; !ok {
				errs = append(errs, fmt.Errorf("service %s: secret %q is not declared", name, sec.Source))
			}
			used["secret:"+sec.Source] = true
		}
		for _, c := range svc.Configs {
			if _, ok := decl.Configs[c.Source]; !ok {
				errs = append(errs, fmt.Errorf("service %s: config %q is not declared", name, c.Source))
			}
			errs = append(errs, fmt.Errorf("service %s: compose configs are ignored by docker-compose 1.x outside a swarm; bind-mount the file", name))
		}
		for _, m := range svc.Volumes {
			switch m.Type {
			case "volume":
				if _, ok := decl.Volumes[m.Source]; !ok {
					errs = append(errs, fmt.Errorf("service %s: volume %q is not declared", name, m.Source))
				}
				used["volume:"+m.Source] = true
			case "bind":
				if m.Short != "" && strings.Contains(m.Source, "${") {
					// Docker creates a missing short-form source as a
					// directory: an operator's file that is missing would
					// silently become one. (Files of the repository and of
					// the bootstrap are checked to exist below.)
					errs = append(errs, fmt.Errorf("service %s: bind mount %q: use the long form (type: bind), which fails on a missing source", name, m.Short))
				}
				p, err := s.hostPath(f, m.Source)
				if err == nil {
					_, err = os.Stat(p)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("service %s: bind mount %s: %w", name, m.Source, err))
				}
			case "tmpfs":
			default:
				errs = append(errs, fmt.Errorf("service %s: volume type %q", name, m.Type))
			}
		}
		for _, n := range svc.Networks {
			if _, ok := decl.Networks[n]; !ok {
				errs = append(errs, fmt.Errorf("service %s: network %q is not declared", name, n))
			}
			used["network:"+n] = true
		}
		for dep := range svc.DependsOn {
			if _, ok := decl.Services[dep]; !ok {
				errs = append(errs, fmt.Errorf("service %s: depends on undefined service %q", name, dep))
			}
		}
	}
	for name, ref := range f.Secrets {
		if ref.External {
			continue
		}
		p, err := s.hostPath(f, ref.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("secret %s: %w", name, err))
			continue
		}
		st, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("secret %s: not generated by the bootstrap: %w", name, err))
		case !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("secret %s: %s is not a regular file", name, p))
		}
	}
	return errors.Join(errs...)
}

// checkUnused: every declared secret and volume is used by some service of
// the combined files.
func checkUnused(decl *composeFile, used map[string]bool) error {
	var errs []error
	for name := range decl.Secrets {
		if !used["secret:"+name] {
			errs = append(errs, fmt.Errorf("secret %q is declared but no service uses it", name))
		}
	}
	for name := range decl.Volumes {
		if !used["volume:"+name] {
			errs = append(errs, fmt.Errorf("volume %q is declared but no service uses it", name))
		}
	}
	return errors.Join(errs...)
}

// declarations merges the files' services, secrets, configs, volumes and
// networks as combining them with -f does.
func declarations(files []*composeFile) *composeFile {
	d := &composeFile{Services: map[string]*service{}, Secrets: map[string]fileRef{}, Configs: map[string]fileRef{}}
	d.Volumes = files[0].Volumes
	d.Networks = files[0].Networks
	for _, f := range files {
		maps.Copy(d.Services, f.Services)
		maps.Copy(d.Secrets, f.Secrets)
		maps.Copy(d.Configs, f.Configs)
		if d.Volumes == nil {
			d.Volumes = f.Volumes
		} else if f.Volumes != nil {
			maps.Copy(d.Volumes, f.Volumes)
		}
		if d.Networks == nil {
			d.Networks = f.Networks
		} else if f.Networks != nil {
			maps.Copy(d.Networks, f.Networks)
		}
	}
	return d
}

// checkPorts: a passthru service's container port is its configured listen
// port, on every interface of the container; a published port is on
// 127.0.0.1 only and no two services publish the same one.
func (s *stack) checkPorts(f *composeFile, published map[string][]publisher) error {
	var errs []error
	for name, svc := range f.Services {
		if binary(svc) == "" {
			for _, p := range svc.Ports {
				if p.HostIP != "127.0.0.1" {
					errs = append(errs, fmt.Errorf("service %s: port %s:%s is published on %q, want 127.0.0.1 only", name, p.Published, p.Target, p.HostIP))
				}
			}
			continue
		}
		listenPort, err := s.listenPort(f, svc)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
			continue
		}
		if len(svc.Ports) == 0 {
			errs = append(errs, fmt.Errorf("service %s: publishes no port", name))
		}
		for _, p := range svc.Ports {
			if p.Target != listenPort {
				errs = append(errs, fmt.Errorf("service %s: container port %s, but the config listens on %s", name, p.Target, listenPort))
			}
			if p.HostIP != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("service %s: port %s:%s is published on %q, want 127.0.0.1 only", name, p.Published, p.Target, p.HostIP))
			}
			if p.Published == "" {
				errs = append(errs, fmt.Errorf("service %s: port %s: name the host port", name, p.Target))
			}
			key := p.HostIP + ":" + p.Published
			for _, other := range published[key] {
				if sameProfile(other.svc, svc) {
					errs = append(errs, fmt.Errorf("services %s and %s both publish %s in one profile", other.name, name, key))
				}
			}
			published[key] = append(published[key], publisher{name, svc})
		}
	}
	return errors.Join(errs...)
}

// publisher is a service that publishes a host port.
type publisher struct {
	name string
	svc  *service
}

// sameProfile reports whether two services can run together.
func sameProfile(a, b *service) bool {
	if a == nil || b == nil || len(a.Profiles) == 0 || len(b.Profiles) == 0 {
		return true
	}
	for _, p := range a.Profiles {
		if slices.Contains(b.Profiles, p) {
			return true
		}
	}
	return false
}

func (s *stack) listenPort(f *composeFile, svc *service) (string, error) {
	path, err := s.configOf(f, svc)
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var c struct {
		Listen string `yaml:"listen"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	host, port, ok := strings.Cut(c.Listen, ":")
	if !ok {
		return "", fmt.Errorf("%s: listen %q: the container must name its listen address", path, c.Listen)
	}
	if host != "0.0.0.0" && host != "" {
		return "", fmt.Errorf("%s: listen %q: other containers and the published port need 0.0.0.0", path, c.Listen)
	}
	return port, nil
}

// checkHealth: the KMS and Identity are checked by their own healthcheck
// subcommand (GET /readyz over TLS verified against the configured or demo
// CA); no health check anywhere skips verification; whoever depends on them
// waits for healthy.
func (s *stack) checkHealth(f *composeFile) error {
	var errs []error
	insecure := regexp.MustCompile(`(^|\s)(-k|--insecure|--no-check-certificate)(\s|$)|InsecureSkipVerify`)
	for name, svc := range f.Services {
		if hc := svc.Healthcheck; hc != nil && insecure.MatchString(strings.Join(hc.Test, " ")) {
			errs = append(errs, fmt.Errorf("service %s: health check %v skips TLS verification", name, hc.Test))
		}
		bin := binary(svc)
		if bin == "" {
			continue
		}
		hc := svc.Healthcheck
		switch {
		case hc == nil || hc.Disable:
			errs = append(errs, fmt.Errorf("service %s: no health check", name))
		case !slices.Equal(hc.Test, []string{"CMD", bin, "healthcheck"}):
			errs = append(errs, fmt.Errorf("service %s: health check %v, want [CMD %s healthcheck] (the binary's TLS-verified /readyz probe)", name, hc.Test, bin))
		case hc.Retries < 1 || hc.Interval == "":
			errs = append(errs, fmt.Errorf("service %s: health check needs an interval and retries", name))
		}
	}
	for name, svc := range f.Services {
		for dep, cond := range svc.DependsOn {
			d := f.Services[dep]
			if d != nil && d.Healthcheck != nil && cond != "service_healthy" {
				errs = append(errs, fmt.Errorf("service %s: depends on %s with condition %q, want service_healthy", name, dep, cond))
			}
		}
	}
	return errors.Join(errs...)
}

// secretWord matches names that hold secrets.
var secretWord = regexp.MustCompile(`(?i)pass(word|wd|phrase)?|secret|token|key|dsn|credential|pwd|private`)

// secretValue matches values that look like secrets: URLs with a password,
// PEM blocks, long random-looking strings.
var secretValue = regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@|-----BEGIN|^[A-Za-z0-9+/_=-]{32,}$`)

// checkNoSecretsInline: no environment variable, command or entrypoint
// argument holds a secret. A secret-named variable may only name a file
// under /run/secrets (the *_FILE convention of the images).
func checkNoSecretsInline(f *composeFile) error {
	var errs []error
	for name, svc := range f.Services {
		for k, v := range svc.Environment {
			if secretValue.MatchString(v) {
				errs = append(errs, fmt.Errorf("service %s: environment %s holds what looks like a secret", name, k))
			}
			if secretWord.MatchString(k) && !(strings.HasSuffix(k, "_FILE") && strings.HasPrefix(v, "/run/secrets/")) {
				errs = append(errs, fmt.Errorf("service %s: environment %s looks secret: give it as a file under /run/secrets (a compose secret)", name, k))
			}
		}
		for _, arg := range slices.Concat(svc.Entrypoint, svc.Command) {
			flag, val, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			namesFile := strings.HasSuffix(flag, "file") || strings.HasPrefix(val, "/run/secrets/")
			if secretValue.MatchString(arg) || strings.HasPrefix(arg, "-") && secretWord.MatchString(flag) && !namesFile || secretValue.MatchString(val) {
				errs = append(errs, fmt.Errorf("service %s: argument %q looks secret: give it as a file (a compose secret)", name, arg))
			}
		}
	}
	return errors.Join(errs...)
}

// checkConfigs: every config the passthru services mount passes the
// binary's --check-config in the mode the service starts in (--demo or
// not), and every YAML file under the services' config directories is
// mounted by some service (so none escapes this check).
func (s *stack) checkConfigs(t *testing.T, dir string) error {
	var errs []error
	checked := map[string]bool{}
	for _, f := range s.files {
		for name, svc := range f.Services {
			bin := binary(svc)
			if bin == "" {
				continue
			}
			path, err := s.configOf(f, svc)
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", name, err))
				continue
			}
			args := []string{"--config", path, "--check-config"}
			if slices.Contains(svc.Command, "--demo") {
				args = append(args, "--demo")
			}
			var out, errOut bytes.Buffer
			if code := passthruBinaries[bin](args, &out, &errOut); code != 0 {
				errs = append(errs, fmt.Errorf("service %s: %s %v exits %d: %s", name, filepath.Base(bin), args, code, strings.TrimSpace(errOut.String())))
			}
			abs, _ := filepath.Abs(path)
			checked[abs] = true
		}
	}
	for _, svc := range []string{"kms", "identity"} {
		configs, err := filepath.Glob(filepath.Join(dir, svc, "config", "*.y*ml"))
		if err != nil {
			return err
		}
		for _, c := range configs {
			abs, _ := filepath.Abs(c)
			if !checked[abs] {
				errs = append(errs, fmt.Errorf("%s is not mounted by any service, so nothing checks it", c))
			}
		}
	}
	return errors.Join(errs...)
}

// checkStack runs every check on the compose files under dir.
func checkStack(t *testing.T, dir string) error {
	t.Helper()
	s, err := loadStack(t, dir)
	if err != nil {
		return err
	}
	var errs []error
	published := map[string][]publisher{}
	decl, used := declarations(s.files), map[string]bool{}
	for _, f := range s.files {
		errs = append(errs,
			s.checkReferences(f, decl, used),
			s.checkPorts(f, published),
			s.checkHealth(f),
			checkNoSecretsInline(f),
		)
	}
	errs = append(errs, checkUnused(decl, used), s.checkConfigs(t, dir))
	return errors.Join(errs...)
}

func TestComposeStack(t *testing.T) {
	require.NoError(t, checkStack(t, "."))
}

// TestComposeStackChecksCanFail breaks a copy of the stack in each way the
// checks guard against and expects the check to say so.
func TestComposeStackChecksCanFail(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		file  string // relative to the copy
		edit  func(s string) string
		wants string
	}{
		{desc: "undeclared secret", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "    - kms-unseal-1\n", "    - kms-unseal-1\n    - kms-unseal-2\n", 1)
			},
			wants: `secret "kms-unseal-2" is not declared`},
		{desc: "secret file the bootstrap does not make", file: "compose.yml",
			edit:  func(s string) string { return strings.Replace(s, "/kms-unseal-1\n", "/kms-unseal-one\n", 1) },
			wants: "secret kms-unseal-1: not generated by the bootstrap"},
		{desc: "undeclared volume", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "- kms-data:/var/lib/passthru\n", "- kms-state:/var/lib/passthru\n", 1)
			},
			wants: `volume "kms-state" is not declared`},
		{desc: "short bind mount", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "    - kms-data:/var/lib/passthru\n", "    - kms-data:/var/lib/passthru\n    - ${PASSTHRU_TLS_DIR:-./.run/tls}/ca.pem:/etc/passthru/extra.pem:ro\n", 1)
			},
			wants: "use the long form"},
		{desc: "missing short-form bind source", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "    - kms-data:/var/lib/passthru\n", "    - kms-data:/var/lib/passthru\n    - ./kms/realms.yml:/etc/passthru/realms.yml:ro\n", 1)
			},
			wants: "realms.yml: no such file"},
		{desc: "missing bind source", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "source: ./kms/config/demo.yml", "source: ./kms/config/demo-missing.yml", 1)
			},
			wants: "demo-missing.yml: no such file"},
		{desc: "typo in a key", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "  healthcheck: *kms-healthcheck", "  healtcheck: *kms-healthcheck", 1)
			},
			wants: "field healtcheck not found"},
		{desc: "published port not the listen port", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, `"127.0.0.1:8081:8081"]`, `"127.0.0.1:8081:9081"]`, 1)
			},
			wants: "container port 9081, but the config listens on 8081"},
		{desc: "config listens elsewhere", file: "kms/config/demo.yml",
			edit:  func(s string) string { return strings.Replace(s, "listen: 0.0.0.0:8081", "listen: 0.0.0.0:8181", 1) },
			wants: "container port 8081, but the config listens on 8181"},
		{desc: "replica on the first replica's port", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, `"127.0.0.1:18081:8081"]`, `"127.0.0.1:8081:8081"]`, 1)
			},
			wants: "both publish 127.0.0.1:8081 in one profile"},
		{desc: "published on every interface", file: "compose.yml",
			edit:  func(s string) string { return strings.Replace(s, `"127.0.0.1:8082:8082"]`, `"8082:8082"]`, 1) },
			wants: "want 127.0.0.1 only"},
		{desc: "curl -k health check", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, `test: ["CMD", "/usr/local/bin/kms", "healthcheck"]`, `test: ["CMD", "curl", "-k", "https://127.0.0.1:8081/readyz"]`, 1)
			},
			wants: "skips TLS verification"},
		{desc: "health check not the binary's", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, `test: ["CMD", "/usr/local/bin/identity", "healthcheck"]`, `test: ["CMD", "true"]`, 1)
			},
			wants: "want [CMD /usr/local/bin/identity healthcheck]"},
		{desc: "started without waiting for health", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "      identity: {condition: service_healthy}\n", "      identity: {condition: service_started}\n", 1)
			},
			wants: `depends on identity with condition "service_started"`},
		{desc: "password in the environment", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "      POSTGRES_USER: postgres\n", "      POSTGRES_USER: postgres\n      POSTGRES_PASSWORD: hunter2\n", 1)
			},
			wants: "environment POSTGRES_PASSWORD looks secret"},
		{desc: "DSN in the environment", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, "      POSTGRES_USER: postgres\n", "      PGURL: postgres://kms:pw@postgres/kms\n      POSTGRES_USER: postgres\n", 1)
			},
			wants: "environment PGURL holds what looks like a secret"},
		{desc: "secret on the command line", file: "compose.yml",
			edit: func(s string) string {
				return strings.Replace(s, `command: ["--config", "/etc/passthru/kms.yml"]`, `command: ["--config", "/etc/passthru/kms.yml", "--db-password=x"]`, 1)
			},
			wants: `argument "--db-password=x" looks secret`},
		{desc: "config that fails --check-config", file: "identity/config/demo.yml",
			edit: func(s string) string {
				return strings.Replace(s, "issuer: https://identity:8082", "issuer: http://identity:8082", 1)
			},
			wants: "must be an https URL"},
		{desc: "prod config without a certificate", file: "kms/config/prod.yml",
			edit:  func(s string) string { return strings.Replace(s, "  cert_file: /etc/passthru/tls/kms.pem\n", "", 1) },
			wants: "required outside demo mode"},
		{desc: "config no service mounts", file: "kms/config/staging.yml",
			edit:  func(string) string { return "listen: 0.0.0.0:8081\n" },
			wants: "staging.yml is not mounted by any service"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := copyTree(t, ".")
			path := filepath.Join(dir, tc.file)
			old, err := os.ReadFile(path)
			if err != nil && !os.IsNotExist(err) {
				require.NoError(t, err)
			}
			edited := tc.edit(string(old))
			require.NotEqual(t, string(old), edited, "the edit must change %s", tc.file)
			require.NoError(t, os.WriteFile(path, []byte(edited), 0o644))
			err = checkStack(t, dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wants)
		})
	}
}

// copyTree copies the compose files and the configs (not .run) to a
// temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".run" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, p), 0o755)
		}
		if !strings.HasSuffix(p, ".yml") && !strings.HasSuffix(p, ".sh") {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, p), raw, 0o644)
	})
	require.NoError(t, err)
	return dst
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": ""}
	for in, want := range map[string]string{
		"${A}/x": "a/x", "${B:-b}/x": "b/x", "${A:-z}": "a", "${EMPTY:-d}": "d", "plain": "plain",
	} {
		got, err := interpolate(in, vars)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"${B}", "$A", "${A:?x}"} {
		_, err := interpolate(in, vars)
		assert.Error(t, err, in)
	}
}

// TestProdCheckKnowsEveryProdFile: `stackinit check` lists exactly what the
// prod profile's services read from the operator's directories, so it
// names every file whose absence would stop the start.
func TestProdCheckKnowsEveryProdFile(t *testing.T) {
	f, err := readCompose("compose.yml")
	require.NoError(t, err)
	var secrets, tlsFiles []string
	for _, svc := range f.Services {
		if !slices.Contains(svc.Profiles, "prod") {
			continue
		}
		for _, sec := range svc.Secrets {
			file := f.Secrets[sec.Source].File
			switch {
			case strings.HasPrefix(file, "${PASSTHRU_SECRETS_DIR:-./.run/secrets}/"):
				secrets = append(secrets, filepath.Base(file))
			case strings.HasPrefix(file, "${PASSTHRU_TLS_DIR:-./.run/tls}/"):
				tlsFiles = append(tlsFiles, filepath.Base(file))
			default:
				t.Errorf("prod secret %s: %s is outside PASSTHRU_SECRETS_DIR and PASSTHRU_TLS_DIR", sec.Source, file)
			}
		}
		for _, m := range svc.Volumes {
			if rest, ok := strings.CutPrefix(m.Source, "${PASSTHRU_TLS_DIR:-./.run/tls}/"); ok {
				tlsFiles = append(tlsFiles, rest)
			}
		}
	}
	slices.Sort(secrets)
	slices.Sort(tlsFiles)
	assert.Equal(t, slices.Sorted(slices.Values(stackinit.ProdSecrets)), slices.Compact(secrets))
	assert.Equal(t, slices.Sorted(slices.Values(stackinit.ProdTLS)), slices.Compact(tlsFiles))
}
