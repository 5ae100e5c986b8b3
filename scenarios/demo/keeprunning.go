package demo

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
)

// keepRunning prints how to reach the in-process services and waits for
// Ctrl-C (ctx). Every command trusts the demo CA with --cacert; none uses -k.
func (d *run) keepRunning(ctx context.Context) {
	w := d.notes
	fmt.Fprintf(w, "\nThe services keep running. Demo data lives in %s and is deleted when the demo stops.\n", d.tmp)
	for _, svc := range d.opts.Services() {
		if d.instances[svc] == nil {
			continue
		}
		t := d.targets[svc]
		switch svc {
		case "kms":
			printKMS(w, t)
		case "identity":
			printIdentity(w, t)
		}
		fmt.Fprintf(w, "  logs:             %s\n", d.logFiles[svc])
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop the services.\n")
	if d.deps.Ready != nil {
		d.deps.Ready()
	}
	<-ctx.Done()
	fmt.Fprintf(w, "\nStopping the services...\n")
}

// shq quotes s for a POSIX shell.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func curl(t *target.Target, args ...string) string {
	return "curl --cacert " + shq(t.CAFile) + " " + strings.Join(args, " ")
}

func header(w io.Writer, name string, t *target.Target) {
	fmt.Fprintf(w, "\n%s\n", name)
	fmt.Fprintf(w, "  URL:              %s\n", t.BaseURL)
	fmt.Fprintf(w, "  demo credentials: %s\n", t.DemoFile)
	fmt.Fprintf(w, "  CA bundle:        %s\n", t.CAFile)
}

func printKMS(w io.Writer, t *target.Target) {
	header(w, "KMS", t)
	fmt.Fprintf(w, "  Swagger UI:       %s/ui/swagger/ (import the CA bundle into your browser, or use curl)\n", t.BaseURL)
	if len(t.Demo.Tenants) == 0 {
		return
	}
	tenant := t.Demo.Tenants[0]
	fmt.Fprintf(w, "  try (tenant %s):\n", tenant.Name)
	if u, err := target.UserWithRole(&tenant, "admin"); err == nil {
		fmt.Fprintf(w, "    %s\n", curl(t, "-u", shq(u.Username+":"+u.Password), shq(t.URL("/api/v1/elastic-keys"))))
	}
	user, err := target.UserWithRole(&tenant, "writer")
	if err != nil {
		user, err = target.UserWithRole(&tenant, "admin")
	}
	key, kerr := tenant.KeyByAlgorithm("A256GCM")
	if err == nil && kerr == nil {
		fmt.Fprintf(w, "    %s\n", curl(t, "-u", shq(user.Username+":"+user.Password),
			"-H", shq("Content-Type: application/json"),
			"-d", shq(`{"plaintext":"aGVsbG8gcGFzc3RocnU="}`),
			shq(t.URL("/api/v1/elastic-keys/"+key.ID+"/encrypt"))))
	}
}

func printIdentity(w io.Writer, t *target.Target) {
	header(w, "Identity", t)
	fmt.Fprintf(w, "  try:\n")
	fmt.Fprintf(w, "    %s\n", curl(t, shq(t.URL("/.well-known/openid-configuration"))))
	if len(t.Demo.Tenants) == 0 {
		return
	}
	tenant := t.Demo.Tenants[0]
	if c, err := tenant.ClientOfKind(demofile.KindService); err == nil {
		args := []string{"-u", shq(c.ClientID + ":" + c.ClientSecret), "-d", "grant_type=client_credentials"}
		if len(c.Scopes) > 0 {
			args = append(args, "--data-urlencode", shq("scope="+strings.Join(c.Scopes, " ")))
		}
		args = append(args, shq(t.URL("/oauth2/v1/token")))
		fmt.Fprintf(w, "    %s\n", curl(t, args...))
	}
}
