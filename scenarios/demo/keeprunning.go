package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	if kms, idp := d.instances["kms"], d.instances["identity"]; kms != nil && idp != nil {
		d.printIntegration(w, d.targets["kms"], d.targets["identity"])
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

// envFile is the shell file --keep-running writes for the README's
// integration commands: the URLs, the CA and a demo service client.
const envFile = "demo.env"

// printIntegration writes demo.env and prints how to use an Identity token
// at the KMS with curl.
func (d *run) printIntegration(w io.Writer, kms, idp *target.Target) {
	if kms.Demo.Trust == nil || len(kms.Demo.Tenants) == 0 || len(idp.Demo.Tenants) == 0 {
		return
	}
	client, err := idp.Demo.Tenants[0].ClientOfKind(demofile.KindService)
	if err != nil {
		return
	}
	key, err := kms.Demo.Tenants[0].KeyByAlgorithm("A256GCM")
	if err != nil {
		return
	}
	certs := kms.Demo.Tenants[0].ClientCerts
	if len(certs) == 0 {
		return
	}
	vars := [][2]string{
		{"PASSTHRU_CA", kms.CAFile}, {"PASSTHRU_KMS", kms.BaseURL}, {"PASSTHRU_IDENTITY", idp.BaseURL},
		{"PASSTHRU_CLIENT_ID", client.ClientID}, {"PASSTHRU_CLIENT_SECRET", client.ClientSecret}, {"PASSTHRU_KEY_ID", key.ID},
		{"PASSTHRU_CLIENT_CERT", certs[0].CertFile}, {"PASSTHRU_CLIENT_KEY", certs[0].KeyFile},
	}
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", v[0], shq(v[1]))
	}
	path := filepath.Join(d.tmp, envFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		fmt.Fprintf(d.stderr, "demo: write %s: %v\n", path, err)
		return
	}
	fmt.Fprintf(w, "\nKMS + Identity (the KMS trusts Identity's tokens; revocation mode %s, bound %gs)\n",
		kms.Demo.Trust.RevocationMode, kms.Demo.Trust.RevocationIntervalSeconds)
	fmt.Fprintf(w, "  environment:      source %s\n", shq(path))
	fmt.Fprintf(w, "  then, as in the README's \"Integrating with the KMS\":\n")
	for _, line := range IntegrationCommands {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// IntegrationCommands are the README's copy-paste commands that get a token
// from Identity and use it at the KMS; a test runs them against a demo.
var IntegrationCommands = []string{
	`TOKEN=$(curl -sS --cacert "$PASSTHRU_CA" -u "$PASSTHRU_CLIENT_ID:$PASSTHRU_CLIENT_SECRET" -d grant_type=client_credentials "$PASSTHRU_IDENTITY/oauth2/v1/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')`,
	`curl -sS --cacert "$PASSTHRU_CA" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"plaintext":"aGVsbG8gcGFzc3RocnU="}' "$PASSTHRU_KMS/api/v1/elastic-keys/$PASSTHRU_KEY_ID/encrypt"`,
	`curl -sS -i --cacert "$PASSTHRU_CA" "$PASSTHRU_KMS/api/v1/elastic-keys"`,
	`curl -sS --cacert "$PASSTHRU_CA" --cert "$PASSTHRU_CLIENT_CERT" --key "$PASSTHRU_CLIENT_KEY" "$PASSTHRU_KMS/api/v1/elastic-keys"`,
}
