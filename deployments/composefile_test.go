package deployments

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The subset of the Compose Specification the stack uses, decoded strictly:
// a key that is not modelled here (a typo such as `healtcheck`, or a
// feature docker-compose 1.x lacks) fails the test. Keys the checks do not
// read but that are valid Compose are accepted as raw nodes.

type composeFile struct {
	path     string
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]*struct {
		Name     string            `yaml:"name"`
		External bool              `yaml:"external"`
		Driver   string            `yaml:"driver"`
		Labels   map[string]string `yaml:"labels"`
	} `yaml:"volumes"`
	Networks map[string]*struct {
		Name     string            `yaml:"name"`
		External bool              `yaml:"external"`
		Internal bool              `yaml:"internal"`
		Driver   string            `yaml:"driver"`
		Labels   map[string]string `yaml:"labels"`
	} `yaml:"networks"`
	Secrets map[string]fileRef `yaml:"secrets"`
	Configs map[string]fileRef `yaml:"configs"`
	// Extensions are the top-level x-... fields (readCompose refuses any
	// other unknown top-level key; below the top, decoding is strict).
	Extensions map[string]yaml.Node `yaml:",inline"`
	Version    string               `yaml:"version"` // obsolete, ignored by compose

}

type fileRef struct {
	File     string `yaml:"file"`
	External bool   `yaml:"external"`
	Name     string `yaml:"name"`
}

type service struct {
	Image         string                `yaml:"image"`
	Profiles      []string              `yaml:"profiles"`
	Entrypoint    args                  `yaml:"entrypoint"`
	Command       args                  `yaml:"command"`
	Environment   environment           `yaml:"environment"`
	Secrets       []serviceSecret       `yaml:"secrets"`
	Configs       []serviceSecret       `yaml:"configs"`
	Volumes       []mount               `yaml:"volumes"`
	Ports         []port                `yaml:"ports"`
	Networks      serviceNetworks       `yaml:"networks"`
	Healthcheck   *healthcheck          `yaml:"healthcheck"`
	DependsOn     dependsOn             `yaml:"depends_on"`
	ReadOnly      bool                  `yaml:"read_only"`
	Tmpfs         []string              `yaml:"tmpfs"`
	CapDrop       []string              `yaml:"cap_drop"`
	CapAdd        []string              `yaml:"cap_add"`
	SecurityOpt   []string              `yaml:"security_opt"`
	Restart       string                `yaml:"restart"`
	User          string                `yaml:"user"`
	Hostname      string                `yaml:"hostname"`
	ContainerName string                `yaml:"container_name"`
	WorkingDir    string                `yaml:"working_dir"`
	Expose        []string              `yaml:"expose"`
	Labels        map[string]string     `yaml:"labels"`
	Logging       *yaml.Node            `yaml:"logging"`
	StopGrace     string                `yaml:"stop_grace_period"`
	Ulimits       *yaml.Node            `yaml:"ulimits"`
	Deploy        *yaml.Node            `yaml:"deploy"`
	ExtraHosts    []string              `yaml:"extra_hosts"`
	Build         *yaml.Node            `yaml:"build"`
	MemLimit      string                `yaml:"mem_limit"`
	Init          bool                  `yaml:"init"`
	Sysctls       map[string]string     `yaml:"sysctls"`
	Extends       map[string]*yaml.Node `yaml:"extends"`
}

// args is a command or entrypoint: a list, or a string split on blanks
// (compose splits it shell-like; the checks only look at the words).
type args []string

func (a *args) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*a = strings.Fields(n.Value)
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*a = l
	return nil
}

// environment is the map or the list form (KEY=value).
type environment map[string]string

func (e *environment) UnmarshalYAML(n *yaml.Node) error {
	out := environment{}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]string{}
		if err := n.Decode(&m); err != nil {
			return err
		}
		maps := out
		for k, v := range m {
			maps[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment: want a map or a list", n.Line)
	}
	*e = out
	return nil
}

type serviceSecret struct {
	Source, Target string
}

func (s *serviceSecret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Source = n.Value
		return nil
	}
	var long struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
		UID    string `yaml:"uid"`
		GID    string `yaml:"gid"`
		Mode   int    `yaml:"mode"`
	}
	if err := decodeStrict(n, &long, "source", "target", "uid", "gid", "mode"); err != nil {
		return err
	}
	s.Source, s.Target = long.Source, long.Target
	return nil
}

// mount is a volumes entry, short ("src:dst[:ro]") or long form.
type mount struct {
	Type     string `yaml:"type"` // volume, bind, tmpfs
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only"`
	// Short is the short form as written ("" for the long form).
	Short string `yaml:"-"`
}

func (m *mount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := splitOutsideBraces(n.Value)
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("line %d: volume %q: want source:target[:mode]", n.Line, n.Value)
		}
		m.Short, m.Source, m.Target = n.Value, parts[0], parts[1]
		m.ReadOnly = len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "ro")
		m.Type = "volume"
		if strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "$") {
			m.Type = "bind"
		}
		return nil
	}
	type plain mount
	var p plain
	if err := decodeStrict(n, &p, "type", "source", "target", "read_only", "volume", "bind", "tmpfs", "consistency"); err != nil {
		return err
	}
	*m = mount(p)
	return nil
}

// splitOutsideBraces splits s at the colons that are not inside ${...}
// (whose ":-" separates a variable from its default).
func splitOutsideBraces(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
		case s[i] == '}' && depth > 0:
			depth--
		case s[i] == ':' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// port is a ports entry: "[host_ip:]published:target" or the long form.
type port struct {
	HostIP    string
	Published string
	Target    string
}

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s := strings.TrimSuffix(n.Value, "/tcp")
		parts := strings.Split(s, ":")
		switch len(parts) {
		case 1:
			p.Target = parts[0]
		case 2:
			p.Published, p.Target = parts[0], parts[1]
		case 3:
			p.HostIP, p.Published, p.Target = parts[0], parts[1], parts[2]
		default:
			return fmt.Errorf("line %d: port %q: want [host_ip:]published:target", n.Line, n.Value)
		}
		return nil
	}
	var long struct {
		Target    string `yaml:"target"`
		Published string `yaml:"published"`
		HostIP    string `yaml:"host_ip"`
		Protocol  string `yaml:"protocol"`
		Mode      string `yaml:"mode"`
	}
	if err := decodeStrict(n, &long, "target", "published", "host_ip", "protocol", "mode"); err != nil {
		return err
	}
	p.HostIP, p.Published, p.Target = long.HostIP, long.Published, long.Target
	return nil
}

// serviceNetworks is the list or the map form; the values (aliases) are
// not checked.
type serviceNetworks []string

func (s *serviceNetworks) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			var opts struct {
				Aliases     []string `yaml:"aliases"`
				IPv4Address string   `yaml:"ipv4_address"`
			}
			if err := decodeStrict(n.Content[i+1], &opts, "aliases", "ipv4_address"); err != nil {
				return err
			}
			*s = append(*s, n.Content[i].Value)
		}
	default:
		return fmt.Errorf("line %d: networks: want a list or a map", n.Line)
	}
	return nil
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
	Disable     bool     `yaml:"disable"`
}

// dependsOn maps a dependency to its condition ("" in the list form).
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	out := dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			out[s] = ""
		}
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			var c struct {
				Condition string `yaml:"condition"`
				Restart   bool   `yaml:"restart"`
				Required  *bool  `yaml:"required"`
			}
			if err := decodeStrict(n.Content[i+1], &c, "condition", "restart", "required"); err != nil {
				return err
			}
			out[n.Content[i].Value] = c.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on: want a list or a map", n.Line)
	}
	*d = out
	return nil
}

// decodeStrict decodes a mapping node, refusing keys not in allowed
// (Node.Decode alone would ignore them).
func decodeStrict(n *yaml.Node, out any, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping", n.Line)
	}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(allowed, k) {
			return fmt.Errorf("line %d: unknown key %q (want one of %v)", n.Content[i].Line, k, allowed)
		}
	}
	return n.Decode(out)
}

// readCompose decodes path strictly. Top-level keys other than the
// sections are refused unless they are extension fields (x-...), which
// hold the anchors the services merge.
func readCompose(path string) (*composeFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a YAML mapping", path)
	}
	top := doc.Content[0]
	for i := 0; i < len(top.Content); i += 2 {
		k := top.Content[i].Value
		switch {
		case strings.HasPrefix(k, "x-"):
		case slices.Contains([]string{"services", "volumes", "networks", "secrets", "configs", "version"}, k):
		case k == "include" || k == "name":
			return nil, fmt.Errorf("%s: top-level %q is not supported by docker-compose 1.29", path, k)
		default:
			return nil, fmt.Errorf("%s: unknown top-level key %q", path, k)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	f := &composeFile{path: path}
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-([^}]*))?\}`)

// interpolate expands ${VAR} and ${VAR:-default} as compose does with vars
// as the environment; a variable without a value or a default is an error
// (compose would substitute "" and warn).
func interpolate(s string, vars map[string]string) (string, error) {
	var errs []string
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if v, ok := vars[sub[1]]; ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		errs = append(errs, sub[1])
		return ""
	})
	if strings.Contains(out, "$") {
		errs = append(errs, "unsupported interpolation in "+s)
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("%q: no value for %v", s, errs)
	}
	return out, nil
}

// composeFiles are the compose files under dir (the run dir excluded).
func composeFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".run" {
			return filepath.SkipDir
		}
		name := d.Name()
		if !d.IsDir() && (name == "compose.yml" || name == "compose.yaml" || strings.HasPrefix(name, "compose.") && strings.HasSuffix(name, ".yml") || name == "docker-compose.yml") {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
