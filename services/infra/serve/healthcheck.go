package serve

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// HealthcheckCommand is the first argument that makes a service binary probe
// its own server instead of starting one: `kms healthcheck`, a container's
// HEALTHCHECK (images have no curl, and curl could not know the CA).
const HealthcheckCommand = "healthcheck"

// healthcheckBodyLimit bounds how much of a not-ready answer is printed: the
// body names the failing checks, a few lines.
const healthcheckBodyLimit = 2048

// Healthcheck loads the configuration a start would (config file, then
// environment, then the flags --config, --listen and --data-dir), GETs
// /readyz of the server on the listen port over TLS 1.3, trusting only
// tls.ca_file (or, for a demo without tls.cert_file, the demo CA in
// <data-dir>/tls), and returns 0 only when the answer is 200. The address is
// 127.0.0.1 when the server listens on every interface, else the configured
// host. Failures say why on stderr and return 1; usage errors 2. It never
// creates anything: a missing demo CA is a failure, not a new CA.
//
// The certificate is always fully verified, but not necessarily against the
// dialled address: an operator's certificate names the service's DNS names
// (passthru-kms.passthru.svc), rarely 127.0.0.1, and checking it against an
// address it was never issued for would fail on every probe. So the name
// checked is, in order: --server-name; the dialled address when the first
// certificate of tls.cert_file names it (a DNS name, or an IP SAN for an
// address); else that certificate's first DNS name that is not a wildcard.
// A demo without tls.cert_file checks the dialled address, which its leaf
// names (127.0.0.1, ::1, localhost). See healthcheckServerName.
func Healthcheck(ctx context.Context, svc *Service, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	name := svc.Name + " " + HealthcheckCommand
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config file (default: search "+strings.Join(config.SearchPaths(svc.Name), ", ")+")")
	listen := fs.String("listen", "", "the server's listen address (default: the config's, else "+svc.DefaultListen+")")
	dataDir := fs.String("data-dir", "", "the server's data dir, where a demo keeps its CA (default: the config's)")
	serverName := fs.String("server-name", "", "verify the server's certificate against this name, a DNS name or IP address it is issued for; the probe still dials the listen address, and the chain must still lead to the CA. Default: the listen address when the first certificate of tls.cert_file names it, else that certificate's first DNS name; in a demo without tls.cert_file, the listen address")
	timeout := fs.Duration("timeout", 4*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nExits 0 when the %s server on this host answers /readyz with 200, verified against its own CA.\n\nFlags:\n", name, svc.Name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %v\n", name, fs.Args())
		return 2
	}
	target, err := healthcheckTarget(svc, *configPath, *listen, *dataDir, *serverName, env)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, body, err := getReadyz(ctx, target)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	case status != http.StatusOK:
		fmt.Fprintf(stderr, "%s: %s answered %d: %s\n", name, target.url, status, strings.TrimSpace(body))
		return 1
	}
	// Say which name the certificate was verified as when it is not the
	// address in the URL, so a passing probe shows what it checked.
	verifiedAs := ""
	if target.serverName != target.host {
		verifiedAs = " (certificate verified as " + target.serverName + ")"
	}
	fmt.Fprintf(stdout, "%s: %s ready%s\n", svc.Name, target.url, verifiedAs)
	return 0
}

// probeTarget is what the probe dials and what it trusts.
type probeTarget struct {
	url   string         // https://host:port/readyz
	host  string         // the dialled host, as in url
	roots *x509.CertPool // the only trust anchors
	// serverName is the name the server's certificate must be issued for
	// (and the SNI, unless it is an address).
	serverName string
}

// healthcheckTarget resolves the /readyz URL, the trust anchors and the
// name to verify from the configuration, the same way Resolve and Start
// would find them; serverName, when not empty, is that name.
func healthcheckTarget(svc *Service, configPath, listen, dataDir, serverName string, env func(string) (string, bool)) (probeTarget, error) {
	var none probeTarget
	if _, err := config.Load(svc.Name, configPath, svc.Config); err != nil {
		return none, err
	}
	if err := config.ApplyEnvPrefix(svc.Config, EnvPrefix(svc.Name), env); err != nil {
		return none, err
	}
	s := svc.Config.Common()
	if listen != "" {
		s.Listen = listen
	}
	if s.Listen == "" {
		s.Listen = svc.DefaultListen
	}
	if dataDir != "" {
		s.DataDir = dataDir
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return none, fmt.Errorf("listen %q: %w", s.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	caFile := s.TLS.CAFile
	switch {
	case s.TLS.CertFile != "" && caFile == "":
		return none, errors.New("tls.ca_file: required with tls.cert_file (the healthcheck trusts only it)")
	case s.TLS.CertFile == "" && s.DataDir == "":
		return none, errors.New("no CA to trust: configure tls.cert_file and tls.ca_file, or name the demo's data dir (--data-dir or data_dir) holding tls/" + tlsx.DemoCAFile)
	case s.TLS.CertFile == "":
		caFile = filepath.Join(s.DataDir, "tls", tlsx.DemoCAFile)
	}
	cas, err := tlsx.ReadCertsPEM(caFile)
	if err != nil {
		return none, fmt.Errorf("CA bundle: %w", err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	if serverName == "" {
		if serverName, err = healthcheckServerName(host, s.TLS.CertFile); err != nil {
			return none, err
		}
	}
	return probeTarget{
		url: "https://" + net.JoinHostPort(host, port) + "/readyz", host: host, roots: roots, serverName: serverName,
	}, nil
}

// healthcheckServerName picks the name the server's certificate is verified
// against when --server-name is not given. Only the name is taken from
// certFile: the certificate the server presents must still chain to
// tls.ca_file and be issued for that name, so a certificate rotated since,
// or one of another CA, fails the probe as it would fail a client.
//
// The dialled host is used when the first certificate of certFile (the
// leaf, as the server loads it) names it: an IP SAN for an address, a DNS
// SAN for a host name. Otherwise the leaf's first DNS SAN that is not a
// wildcard, a name clients reach the server by; a wildcard cannot be
// verified against as such. Without certFile (demo mode) the dialled host,
// which the demo leaf names.
func healthcheckServerName(host, certFile string) (string, error) {
	if certFile == "" {
		return host, nil
	}
	certs, err := tlsx.ReadCertsPEM(certFile)
	if err != nil {
		return "", fmt.Errorf("tls.cert_file: the healthcheck reads the server certificate for the name to verify it against (or pass --server-name): %w", err)
	}
	leaf := certs[0]
	if leaf.VerifyHostname(host) == nil {
		return host, nil
	}
	for _, n := range leaf.DNSNames {
		if !strings.Contains(n, "*") {
			return n, nil
		}
	}
	return "", fmt.Errorf("tls.cert_file: the certificate names neither %s nor a DNS name without a wildcard: pass --server-name with a name it is issued for", host)
}

// getReadyz GETs the target's URL over TLS 1.3 trusting only its roots and
// verifying the certificate against its server name, without a client
// certificate: a server that requires one refuses the probe.
func getReadyz(ctx context.Context, target probeTarget) (int, string, error) {
	cfg := tlsx.ClientConfig(target.roots, nil)
	// Only the name changes: the chain is verified against roots, the
	// hostname against serverName, as for any client.
	cfg.ServerName = target.serverName
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	url := target.url
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		// The client's error repeats the method and URL.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, healthcheckBodyLimit))
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: read answer: %w", url, err)
	}
	return resp.StatusCode, string(body), nil
}
