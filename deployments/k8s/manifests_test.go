package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
)

// service is what the test knows of a service beforehand; everything else
// it reads from the manifests.
type service struct {
	image string
	// main is the binary's entry point: the test runs `--check-config`
	// through it, exactly as the binary in the pod would.
	main func(args []string, stdout, stderr io.Writer) int
	// load decodes a config file into the service's Config (strictly, with
	// the service's defaults), so the test can walk its *_file keys.
	load func(path string) (any, error)
}

var services = map[string]service{
	"kms": {
		image: "passthru/kms:latest",
		main:  kmsserver.Main,
		load: func(p string) (any, error) {
			c := kmsserver.DefaultConfig()
			_, err := config.Load("kms", p, &c)
			return &c, err
		},
	},
	"identity": {
		image: "passthru/identity:latest",
		main:  identityserver.Main,
		load: func(p string) (any, error) {
			c := identityserver.DefaultConfig()
			_, err := config.Load("identity", p, &c)
			return &c, err
		},
	},
}

const (
	uid = 10001
	// configDir is where the binaries look for <svc>.yml.
	configDir = "/etc/passthru"
)

// kustomization is the part of kustomization.yaml these manifests use;
// decoded strictly, so anything else in the file fails the test until the
// test learns about it.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// manifests is the directory's content, decoded.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        map[string]*policyv1.PodDisruptionBudget
	namespaces  map[string][]string // namespace -> "kind/name"
	// files are the manifest files (relative, slash-separated); templates
	// those under secrets/, which are not applied.
	files     []string
	templates map[string]bool
	kust      kustomization
	readme    string
}

// decode strictly decodes one YAML document into the API type its
// apiVersion and kind name: an unknown or misspelled field, or a duplicate
// key, is an error.
func decode(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return nil, fmt.Errorf("apiVersion %q kind %q: not a kind these manifests use", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// documents splits a YAML stream, leaving out empty documents.
func documents(data []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, doc)
		}
	}
}

func load(dir string) (*manifests, error) {
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, namespaces: map[string][]string{},
		templates: map[string]bool{},
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		return nil, err
	}
	m.readme = string(readme)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "kustomization.yaml":
			if err := yaml.UnmarshalStrict(data, &m.kust); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			return nil
		case strings.HasSuffix(rel, ".yml"):
			return fmt.Errorf("%s: name manifests *.yaml", rel)
		case !strings.HasSuffix(rel, ".yaml"):
			return nil
		}
		m.files = append(m.files, rel)
		if strings.HasPrefix(rel, "secrets/") {
			m.templates[rel] = true
		}
		docs, err := documents(data)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if len(docs) == 0 {
			return fmt.Errorf("%s: no manifest", rel)
		}
		for _, doc := range docs {
			obj, err := decode(doc)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if err := m.add(rel, obj); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *manifests) add(file string, obj any) error {
	var meta metav1.ObjectMeta
	var dup bool
	switch o := obj.(type) {
	case *appsv1.Deployment:
		meta, dup = o.ObjectMeta, m.deployments[o.Name] != nil
		m.deployments[o.Name] = o
	case *corev1.Service:
		meta, dup = o.ObjectMeta, m.services[o.Name] != nil
		m.services[o.Name] = o
	case *corev1.ConfigMap:
		meta, dup = o.ObjectMeta, m.configMaps[o.Name] != nil
		m.configMaps[o.Name] = o
	case *corev1.Secret:
		if !strings.HasPrefix(file, "secrets/") {
			return fmt.Errorf("%s: a Secret belongs under secrets/ (templates, never applied)", file)
		}
		meta, dup = o.ObjectMeta, m.secrets[o.Name] != nil
		m.secrets[o.Name] = o
	case *policyv1.PodDisruptionBudget:
		meta, dup = o.ObjectMeta, m.pdbs[o.Name] != nil
		m.pdbs[o.Name] = o
	}
	kind := reflect.TypeOf(obj).Elem().Name()
	if meta.Name == "" {
		return fmt.Errorf("%s: %s without a name", file, kind)
	}
	if dup {
		return fmt.Errorf("%s: a second %s %q", file, kind, meta.Name)
	}
	m.namespaces[meta.Namespace] = append(m.namespaces[meta.Namespace], kind+"/"+meta.Name)
	return nil
}

// check runs every cross-reference check and returns what fails.
func (m *manifests) check() []error {
	c := &checker{m: m}
	c.namespace()
	c.kustomization()
	var idCfg *identityserver.Config
	var kmsCfg *kmsserver.Config
	used := map[string]bool{}   // "ConfigMap/name", "Secret/name" mounted somewhere
	seen := map[string]string{} // service -> its Deployment
	for _, name := range sortedKeys(m.deployments) {
		d := m.deployments[name]
		svc, cfg := c.deployment(d, used)
		if svc == "" {
			continue
		}
		if prev, ok := seen[svc]; ok {
			c.errf("Deployment %s: runs %s like Deployment %s", name, svc, prev)
		}
		seen[svc] = name
		switch cfg := cfg.(type) {
		case *identityserver.Config:
			idCfg = cfg
		case *kmsserver.Config:
			kmsCfg = cfg
		}
	}
	for _, svc := range sortedKeys(services) {
		if seen[svc] == "" {
			c.errf("no Deployment runs %s", svc)
		}
	}
	for _, name := range sortedKeys(m.services) {
		c.service(m.services[name])
	}
	for _, name := range sortedKeys(m.pdbs) {
		c.pdb(m.pdbs[name])
	}
	for _, svc := range sortedKeys(seen) {
		d := m.deployments[seen[svc]]
		if n := len(c.servicesOf(d)); n != 1 {
			c.errf("Deployment %s: %d Services select its pods, want 1", d.Name, n)
		}
		if n := len(c.pdbsOf(d)); n != 1 {
			c.errf("Deployment %s: %d PodDisruptionBudgets select its pods, want 1", d.Name, n)
		}
	}
	if idCfg != nil && kmsCfg != nil { // else the reason is reported already
		var trusted []string
		for _, is := range kmsCfg.Auth.Issuers {
			trusted = append(trusted, is.Issuer)
		}
		c.trust(idCfg.Issuer, trusted, seen["identity"])
	}
	for _, name := range sortedKeys(m.configMaps) {
		if !used["ConfigMap/"+name] {
			c.errf("ConfigMap %s: no Deployment mounts it", name)
		}
	}
	for _, name := range sortedKeys(m.secrets) {
		if !used["Secret/"+name] {
			c.errf("Secret %s: no Deployment mounts it", name)
		}
	}
	c.secretTemplates()
	return c.errs
}

type checker struct {
	m    *manifests
	errs []error
}

func (c *checker) errf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// namespace: every object in one namespace, named (the issuer's in-cluster
// URL names it).
func (c *checker) namespace() {
	if len(c.m.namespaces) != 1 || c.m.namespaces[""] != nil {
		c.errf("manifests in namespaces %v, want all in one named namespace", c.m.namespaces)
	}
}

// kustomization: every manifest but the Secret templates, each once, and
// nothing else.
func (c *checker) kustomization() {
	k := c.m.kust
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		c.errf("kustomization.yaml: apiVersion %q kind %q", k.APIVersion, k.Kind)
	}
	for i, r := range k.Resources {
		switch {
		case !slices.Contains(c.m.files, r):
			c.errf("kustomization.yaml: resources[%d] %q is not a manifest here", i, r)
		case c.m.templates[r]:
			c.errf("kustomization.yaml: resources[%d] %q is a Secret template; applying it would replace the real Secret", i, r)
		case slices.Index(k.Resources, r) < i:
			c.errf("kustomization.yaml: resources[%d] %q is listed twice", i, r)
		}
	}
	for _, f := range c.m.files {
		if !c.m.templates[f] && !slices.Contains(k.Resources, f) {
			c.errf("kustomization.yaml: %s is not in resources", f)
		}
	}
}

// deployment checks one Deployment and its pod; it returns the service it
// runs and that service's decoded configuration (nil when it has none).
func (c *checker) deployment(d *appsv1.Deployment, used map[string]bool) (string, any) {
	where := "Deployment " + d.Name
	pod := &d.Spec.Template.Spec
	if r := ptr.Deref(d.Spec.Replicas, 1); r < 2 {
		c.errf("%s: replicas %d, want at least 2 (the PodDisruptionBudget keeps 1)", where, r)
	}
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		c.errf("%s: spec.selector %s does not select its own pod labels %v (%v)", where, metav1.FormatLabelSelector(d.Spec.Selector), d.Spec.Template.Labels, err)
	}
	c.podSecurity(where, pod)
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			used["ConfigMap/"+v.ConfigMap.Name] = true
			cm := c.m.configMaps[v.ConfigMap.Name]
			if cm == nil {
				c.errf("%s: volume %s: no ConfigMap %q", where, v.Name, v.ConfigMap.Name)
				continue
			}
			for _, it := range v.ConfigMap.Items {
				if _, ok := cm.Data[it.Key]; !ok {
					c.errf("%s: volume %s: ConfigMap %s has no key %q", where, v.Name, cm.Name, it.Key)
				}
			}
		case v.Secret != nil:
			used["Secret/"+v.Secret.SecretName] = true
			s := c.m.secrets[v.Secret.SecretName]
			if s == nil {
				c.errf("%s: volume %s: no Secret %q", where, v.Name, v.Secret.SecretName)
				continue
			}
			for _, it := range v.Secret.Items {
				if _, ok := s.Data[it.Key]; !ok {
					c.errf("%s: volume %s: Secret %s has no key %q", where, v.Name, s.Name, it.Key)
				}
			}
			// Unset, the mode is 0644: readable by others.
			if m := ptr.Deref(v.Secret.DefaultMode, 0o644); m&0o037 != 0 {
				c.errf("%s: volume %s: defaultMode %#o, want no write for the group and nothing for others (0440)", where, v.Name, m)
			}
		case v.EmptyDir != nil:
		default:
			c.errf("%s: volume %s: only configMap, secret and emptyDir volumes are checked", where, v.Name)
		}
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		c.errf("%s: %d containers and %d init containers, want one container", where, len(pod.Containers), len(pod.InitContainers))
		return "", nil
	}
	ct := &pod.Containers[0]
	var svc string
	for name, s := range services {
		if s.image == ct.Image {
			svc = name
		}
	}
	if svc == "" {
		c.errf("%s: image %q is not one of the services' images", where, ct.Image)
		return "", nil
	}
	where += " container " + ct.Name
	c.containerSecurity(where, ct)
	c.env(where, ct)
	for _, vm := range ct.VolumeMounts {
		if v := volume(pod, vm.Name); v == nil {
			c.errf("%s: volumeMount %s: no such volume", where, vm.Name)
		} else if (v.ConfigMap != nil || v.Secret != nil) && !vm.ReadOnly {
			c.errf("%s: volumeMount %s: a configMap or secret is mounted readOnly", where, vm.Name)
		}
	}

	// The configuration, where the binary looks for it.
	cfgPath := path.Join(configDir, svc+".yml")
	src, err := c.resolve(pod, ct, cfgPath)
	if err != nil {
		c.errf("%s: %s (the config): %v", where, cfgPath, err)
		return svc, nil
	}
	if src.kind != "ConfigMap" {
		c.errf("%s: %s comes from a %s, want a ConfigMap", where, cfgPath, src.kind)
		return svc, nil
	}
	cfg, err := c.config(svc, c.m.configMaps[src.name].Data[src.key])
	if err != nil {
		c.errf("%s: ConfigMap %s key %s: %v", where, src.name, src.key, err)
		return svc, nil
	}
	settings := cfg.(interface{ Common() *serve.Settings }).Common()
	c.ports(where, ct, settings.Listen)
	c.files(where, pod, ct, cfg)
	if settings.DataDir != "" {
		if src, err := c.resolve(pod, ct, path.Join(settings.DataDir, "x")); err != nil || src.kind != "emptyDir" {
			c.errf("%s: data_dir %s is not on an emptyDir volume (the root file system is read-only)", where, settings.DataDir)
		}
	}
	return svc, cfg
}

func volume(pod *corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// source is what provides a file in a container: a key of a ConfigMap or a
// Secret, or an emptyDir.
type source struct{ kind, name, key string }

// resolve finds which volume, and which key of it, provides the file at p
// in container ct: the deepest mount above p, then the volume's items (or,
// without items, the key named like the file).
func (c *checker) resolve(pod *corev1.PodSpec, ct *corev1.Container, p string) (source, error) {
	if !path.IsAbs(p) {
		return source{}, errors.New("not an absolute path")
	}
	p = path.Clean(p)
	var best *corev1.VolumeMount
	var rel string
	for i := range ct.VolumeMounts {
		vm := &ct.VolumeMounts[i]
		mp := path.Clean(vm.MountPath)
		var r string
		switch {
		case p == mp && vm.SubPath != "":
			r = vm.SubPath
		case strings.HasPrefix(p, mp+"/"):
			r = path.Join(vm.SubPath, strings.TrimPrefix(p, mp+"/"))
		default:
			continue
		}
		if best == nil || len(mp) > len(path.Clean(best.MountPath)) {
			best, rel = vm, r
		}
	}
	if best == nil {
		return source{}, errors.New("no volume is mounted there")
	}
	v := volume(pod, best.Name)
	switch {
	case v == nil:
		return source{}, fmt.Errorf("mount %s: no such volume", best.Name)
	case v.EmptyDir != nil:
		return source{kind: "emptyDir", name: v.Name}, nil
	case v.ConfigMap != nil:
		key, ok := itemKey(v.ConfigMap.Items, rel)
		cm := c.m.configMaps[v.ConfigMap.Name]
		if !ok || cm == nil {
			return source{}, fmt.Errorf("volume %s (ConfigMap %s) has no item at %s", v.Name, v.ConfigMap.Name, rel)
		}
		if _, ok := cm.Data[key]; !ok {
			return source{}, fmt.Errorf("ConfigMap %s has no key %q", cm.Name, key)
		}
		return source{kind: "ConfigMap", name: cm.Name, key: key}, nil
	case v.Secret != nil:
		key, ok := itemKey(v.Secret.Items, rel)
		s := c.m.secrets[v.Secret.SecretName]
		if !ok || s == nil {
			return source{}, fmt.Errorf("volume %s (Secret %s) has no item at %s", v.Name, v.Secret.SecretName, rel)
		}
		if _, ok := s.Data[key]; !ok {
			return source{}, fmt.Errorf("Secret %s has no key %q", s.Name, key)
		}
		return source{kind: "Secret", name: s.Name, key: key}, nil
	}
	return source{}, fmt.Errorf("volume %s: not a configMap, secret or emptyDir", v.Name)
}

func itemKey(items []corev1.KeyToPath, rel string) (string, bool) {
	if len(items) == 0 {
		return rel, !strings.Contains(rel, "/")
	}
	for _, it := range items {
		if path.Clean(it.Path) == rel {
			return it.Key, true
		}
	}
	return "", false
}

// config decodes a ConfigMap's config as the service does and runs the
// binary's own `--check-config` on it, in-process.
func (c *checker) config(svc, data string) (any, error) {
	dir, err := os.MkdirTemp("", "passthru-k8s-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, svc+".yml")
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		return nil, err
	}
	cfg, err := services[svc].load(f)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var stdout, stderr bytes.Buffer
	if code := services[svc].main([]string{"--check-config", "--config", f}, &stdout, &stderr); code != 0 {
		return nil, fmt.Errorf("%s --check-config: exit %d: %s", svc, code, strings.TrimSpace(stderr.String()))
	}
	return cfg, nil
}

// ports: the config listens on every interface on the container's one
// port, and the probes ask that port for /livez and /readyz over HTTPS.
func (c *checker) ports(where string, ct *corev1.Container, listen string) {
	host, ps, err := net.SplitHostPort(listen)
	if err != nil {
		c.errf("%s: listen %q: %v", where, listen, err)
		return
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		c.errf("%s: listen %q: the kubelet's probes and the Service reach the pod's own address; listen on all interfaces", where, listen)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		c.errf("%s: listen %q: %v", where, listen, err)
		return
	}
	if len(ct.Ports) != 1 || int(ct.Ports[0].ContainerPort) != port {
		c.errf("%s: ports %v, want one containerPort %d (the config's listen port)", where, ct.Ports, port)
	}
	for _, pr := range []struct {
		name     string
		probe    *corev1.Probe
		path     string
		required bool
	}{
		{"livenessProbe", ct.LivenessProbe, "/livez", true},
		{"readinessProbe", ct.ReadinessProbe, "/readyz", true},
		{"startupProbe", ct.StartupProbe, "/livez", false},
	} {
		switch {
		case pr.probe == nil:
			if pr.required {
				c.errf("%s: no %s", where, pr.name)
			}
			continue
		case pr.probe.HTTPGet == nil:
			c.errf("%s: %s is not an httpGet", where, pr.name)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			c.errf("%s: %s path %q, want %s", where, pr.name, g.Path, pr.path)
		}
		if g.Scheme != corev1.URISchemeHTTPS {
			c.errf("%s: %s scheme %q, want HTTPS (the service speaks TLS only)", where, pr.name, g.Scheme)
		}
		if p, ok := containerPort(ct, g.Port); !ok || int(p) != port {
			c.errf("%s: %s port %s is not the listen port %d", where, pr.name, g.Port.String(), port)
		}
	}
}

// containerPort resolves a port by number or name against the container's
// ports.
func containerPort(ct *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range ct.Ports {
		if (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) || (p.Type == intstr.String && cp.Name == p.StrVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// fileRef is one file a configuration names.
type fileRef struct {
	key, path string
	secret    bool
}

// fileRefs walks a config struct for every `*_file` and `*_files` key that
// is set, so a key added to a service later is checked without changing
// this test. A key is secret when tagged so or named like a secret.
func fileRefs(v reflect.Value, prefix string, out *[]fileRef) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fileRefs(v.Elem(), prefix, out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := range v.Len() {
				fileRefs(v.Index(i), fmt.Sprintf("%s[%d]", prefix, i), out)
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				fileRefs(v.Field(i), prefix, out)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			secret := f.Tag.Get("secret") == "true" || strings.Contains(name, "secret") || name == "key_file" || name == "dsn_file"
			fv := v.Field(i)
			switch {
			case strings.HasSuffix(name, "_file") && fv.Kind() == reflect.String:
				if fv.String() != "" {
					*out = append(*out, fileRef{key, fv.String(), secret})
				}
			case strings.HasSuffix(name, "_files") && fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
				for j := range fv.Len() {
					*out = append(*out, fileRef{fmt.Sprintf("%s[%d]", key, j), fv.Index(j).String(), secret})
				}
			default:
				fileRefs(fv, key, out)
			}
		}
	}
}

// files: every file the config names is provided by a mounted volume's
// key, and a secret by a Secret's.
func (c *checker) files(where string, pod *corev1.PodSpec, ct *corev1.Container, cfg any) {
	var refs []fileRef
	fileRefs(reflect.ValueOf(cfg), "", &refs)
	if len(refs) == 0 {
		c.errf("%s: the config names no file (no TLS, no unseal secrets?)", where)
	}
	for _, r := range refs {
		p := r.path
		if !path.IsAbs(p) {
			if r.key != "auth.realms_file" {
				c.errf("%s: %s %q: use an absolute path", where, r.key, p)
				continue
			}
			p = path.Join(configDir, p) // realms.yml is found beside the config
		}
		src, err := c.resolve(pod, ct, p)
		switch {
		case err != nil:
			c.errf("%s: %s %s: %v", where, r.key, p, err)
		case src.kind == "emptyDir":
			c.errf("%s: %s %s is on the emptyDir %s: nothing provides it", where, r.key, p, src.name)
		case r.secret && src.kind != "Secret":
			c.errf("%s: %s %s holds a secret but comes from %s %s", where, r.key, p, src.kind, src.name)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func is(v *int64, want int64) bool { return v != nil && *v == want }

func (c *checker) podSecurity(where string, pod *corev1.PodSpec) {
	sc := pod.SecurityContext
	if sc == nil || !isTrue(sc.RunAsNonRoot) || !is(sc.RunAsUser, uid) || !is(sc.RunAsGroup, uid) || !is(sc.FSGroup, uid) {
		c.errf("%s: pod securityContext: want runAsNonRoot, runAsUser, runAsGroup and fsGroup %d", where, uid)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		c.errf("%s: automountServiceAccountToken: want false (the service calls no Kubernetes API)", where)
	}
}

func (c *checker) containerSecurity(where string, ct *corev1.Container) {
	sc := ct.SecurityContext
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		isTrue(sc.Privileged) || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		c.errf("%s: securityContext: want readOnlyRootFilesystem, no privilege escalation, every capability dropped", where)
	}
	r := ct.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		c.errf("%s: resources: want cpu and memory requests and a memory limit", where)
	}
}

// secretName matches environment variable names that would carry a secret.
var secretName = regexp.MustCompile(`(?i)secret|passw|token|dsn|credential|private|(^|_)key($|_)`)

// env: no secret in the environment, and no PASSTHRU_* override of the
// ConfigMap's config (which is what this test validates); no arguments
// either, so the binary reads /etc/passthru/<svc>.yml and no secret is on
// the command line.
func (c *checker) env(where string, ct *corev1.Container) {
	if len(ct.Command)+len(ct.Args) > 0 {
		c.errf("%s: command/args %v %v: want none (the image's entry point reads %s/<svc>.yml)", where, ct.Command, ct.Args, configDir)
	}
	if len(ct.EnvFrom) > 0 {
		c.errf("%s: envFrom: the environment carries neither configuration nor secrets", where)
	}
	for _, e := range ct.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			c.errf("%s: env %s comes from a Secret: secrets are files only", where, e.Name)
		case secretName.MatchString(e.Name):
			c.errf("%s: env %s looks like a secret: secrets are files only", where, e.Name)
		case strings.HasPrefix(e.Name, "PASSTHRU_"):
			c.errf("%s: env %s overrides the ConfigMap's config; put it in the ConfigMap", where, e.Name)
		}
	}
}

// selected returns the Deployments whose pods sel selects.
func (c *checker) selected(sel labels.Selector) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	if sel.Empty() {
		return nil
	}
	for _, name := range sortedKeys(c.m.deployments) {
		if d := c.m.deployments[name]; sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (c *checker) servicesOf(d *appsv1.Deployment) []string {
	var out []string
	for _, name := range sortedKeys(c.m.services) {
		if sel := c.m.services[name].Spec.Selector; len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, name)
		}
	}
	return out
}

func (c *checker) pdbsOf(d *appsv1.Deployment) []string {
	var out []string
	for _, name := range sortedKeys(c.m.pdbs) {
		sel, err := metav1.LabelSelectorAsSelector(c.m.pdbs[name].Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, name)
		}
	}
	return out
}

// service: its selector picks exactly one Deployment's pods and each port
// reaches a port of their container.
func (c *checker) service(s *corev1.Service) {
	where := "Service " + s.Name
	ds := c.selected(labels.SelectorFromSet(s.Spec.Selector))
	if len(s.Spec.Selector) == 0 || len(ds) != 1 {
		c.errf("%s: selector %v selects the pods of %d Deployments, want 1", where, s.Spec.Selector, len(ds))
		return
	}
	cts := ds[0].Spec.Template.Spec.Containers
	if len(s.Spec.Ports) == 0 || len(cts) != 1 {
		c.errf("%s: no port, or Deployment %s has not one container", where, ds[0].Name)
		return
	}
	for _, p := range s.Spec.Ports {
		tp := p.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(p.Port)
		}
		if _, ok := containerPort(&cts[0], tp); !ok {
			c.errf("%s: port %s targetPort %s is not a port of Deployment %s's container", where, p.Name, tp.String(), ds[0].Name)
		}
	}
}

// pdb: its selector picks exactly one Deployment's pods, and keeps one.
func (c *checker) pdb(p *policyv1.PodDisruptionBudget) {
	where := "PodDisruptionBudget " + p.Name
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	if err != nil {
		c.errf("%s: selector: %v", where, err)
		return
	}
	if ds := c.selected(sel); len(ds) != 1 {
		c.errf("%s: selector %v selects the pods of %d Deployments, want 1", where, sel, len(ds))
	}
	if p.Spec.MinAvailable == nil || *p.Spec.MinAvailable != intstr.FromInt32(1) || p.Spec.MaxUnavailable != nil {
		c.errf("%s: want minAvailable 1 (and no maxUnavailable)", where)
	}
}

// trust: the KMS trusts exactly Identity's issuer, and an in-cluster issuer
// URL names Identity's Service and its port.
func (c *checker) trust(issuer string, trusted []string, identity string) {
	if issuer == "" {
		c.errf("identity config: issuer is not set (its default, the listen URL, names 0.0.0.0)")
		return
	}
	if !slices.Contains(trusted, issuer) {
		c.errf("kms config: auth.issuers %v does not trust Identity's issuer %s", trusted, issuer)
	}
	u, err := url.Parse(issuer)
	if err != nil {
		c.errf("identity config: issuer: %v", err)
		return
	}
	host := u.Hostname()
	if !strings.Contains(host, ".svc") {
		return // a public name: the cluster cannot tell
	}
	var ns string
	for n := range c.m.namespaces {
		ns = n
	}
	name, ok := strings.CutSuffix(host, "."+ns+".svc")
	if !ok {
		name, ok = strings.CutSuffix(host, "."+ns+".svc.cluster.local")
	}
	s := c.m.services[name]
	if !ok || s == nil {
		c.errf("identity config: issuer %s names no Service of namespace %s", issuer, ns)
		return
	}
	if ds := c.selected(labels.SelectorFromSet(s.Spec.Selector)); len(ds) != 1 || ds[0].Name != identity {
		c.errf("identity config: issuer %s: Service %s does not select Deployment %s", issuer, name, identity)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == port }) {
		c.errf("identity config: issuer %s: Service %s has no port %s", issuer, name, port)
	}
}

var (
	createSecret = regexp.MustCompile(`kubectl -n (\S+) create secret generic (\S+)((?: \\\n\s+--from-file=\S+)+)`)
	fromFile     = regexp.MustCompile(`--from-file=([^=\s]+)=`)
	sslRootCert  = regexp.MustCompile("sslrootcert=([^&\\s`]+)")
)

// secretTemplates: a template's values are empty; README.md's kubectl
// commands create exactly its keys, in its namespace; the CA file the
// README's DSN names is mounted from a Secret in every pod.
func (c *checker) secretTemplates() {
	documented := map[string][]string{}
	for _, cmd := range createSecret.FindAllStringSubmatch(c.m.readme, -1) {
		ns, name := cmd[1], cmd[2]
		if c.m.namespaces[ns] == nil {
			c.errf("README.md: kubectl create secret %s in namespace %s, where no manifest is", name, ns)
		}
		if documented[name] != nil {
			c.errf("README.md: two commands create Secret %s", name)
		}
		documented[name] = []string{}
		for _, k := range fromFile.FindAllStringSubmatch(cmd[3], -1) {
			documented[name] = append(documented[name], k[1])
		}
		slices.Sort(documented[name])
	}
	for _, name := range sortedKeys(c.m.secrets) {
		s := c.m.secrets[name]
		if len(s.StringData) > 0 {
			c.errf("Secret %s: stringData in a template", name)
		}
		for _, k := range sortedKeys(s.Data) {
			if len(s.Data[k]) > 0 {
				c.errf("Secret %s: key %s has a value; a template's values stay empty so that it is never a usable secret", name, k)
			}
		}
		doc, ok := documented[name]
		switch {
		case !ok:
			c.errf("README.md: no kubectl create secret generic command for Secret %s", name)
		case !slices.Equal(doc, sortedKeys(s.Data)):
			c.errf("README.md: the command for Secret %s creates keys %v, the template has %v", name, doc, sortedKeys(s.Data))
		}
	}
	for _, name := range sortedKeys(documented) {
		if c.m.secrets[name] == nil {
			c.errf("README.md: creates Secret %s, which no template describes", name)
		}
	}
	certs := sslRootCert.FindAllStringSubmatch(c.m.readme, -1)
	if len(certs) == 0 {
		c.errf("README.md: the DSN example names no sslrootcert (PostgreSQL's TLS verified against its CA)")
	}
	for _, m := range certs {
		for _, name := range sortedKeys(c.m.deployments) {
			pod := &c.m.deployments[name].Spec.Template.Spec
			if len(pod.Containers) != 1 {
				continue
			}
			if src, err := c.resolve(pod, &pod.Containers[0], m[1]); err != nil || src.kind != "Secret" {
				c.errf("README.md: the DSN's sslrootcert %s is not a Secret's file in Deployment %s (%v)", m[1], name, err)
			}
		}
	}
}

// clearServiceEnv removes the services' PASSTHRU_* variables for the test:
// --check-config applies them over the file like the binary does.
func clearServiceEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PASSTHRU_KMS_") || strings.HasPrefix(k, "PASSTHRU_IDENTITY_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
}

func TestManifests(t *testing.T) {
	clearServiceEnv(t)
	m, err := load(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.deployments) != len(services) || len(m.secrets) != len(services) {
		t.Errorf("%d Deployments and %d Secrets, want %d of each", len(m.deployments), len(m.secrets), len(services))
	}
	for _, err := range m.check() {
		t.Error(err)
	}
}
