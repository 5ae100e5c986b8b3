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
func Healthcheck(ctx context.Context, svc *Service, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	name := svc.Name + " " + HealthcheckCommand
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config file (default: search "+strings.Join(config.SearchPaths(svc.Name), ", ")+")")
	listen := fs.String("listen", "", "the server's listen address (default: the config's, else "+svc.DefaultListen+")")
	dataDir := fs.String("data-dir", "", "the server's data dir, where a demo keeps its CA (default: the config's)")
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
	url, roots, err := healthcheckTarget(svc, *configPath, *listen, *dataDir, env)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, body, err := getReadyz(ctx, url, roots)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	case status != http.StatusOK:
		fmt.Fprintf(stderr, "%s: %s answered %d: %s\n", name, url, status, strings.TrimSpace(body))
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s ready\n", svc.Name, url)
	return 0
}

// healthcheckTarget resolves the /readyz URL and the trust anchors from the
// configuration, the same way Resolve and Start would find them.
func healthcheckTarget(svc *Service, configPath, listen, dataDir string, env func(string) (string, bool)) (string, *x509.CertPool, error) {
	if _, err := config.Load(svc.Name, configPath, svc.Config); err != nil {
		return "", nil, err
	}
	if err := config.ApplyEnvPrefix(svc.Config, EnvPrefix(svc.Name), env); err != nil {
		return "", nil, err
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
		return "", nil, fmt.Errorf("listen %q: %w", s.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	caFile := s.TLS.CAFile
	switch {
	case s.TLS.CertFile != "" && caFile == "":
		return "", nil, errors.New("tls.ca_file: required with tls.cert_file (the healthcheck trusts only it)")
	case s.TLS.CertFile == "" && s.DataDir == "":
		return "", nil, errors.New("no CA to trust: configure tls.cert_file and tls.ca_file, or name the demo's data dir (--data-dir or data_dir) holding tls/" + tlsx.DemoCAFile)
	case s.TLS.CertFile == "":
		caFile = filepath.Join(s.DataDir, "tls", tlsx.DemoCAFile)
	}
	cas, err := tlsx.ReadCertsPEM(caFile)
	if err != nil {
		return "", nil, fmt.Errorf("CA bundle: %w", err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	return "https://" + net.JoinHostPort(host, port) + "/readyz", roots, nil
}

// getReadyz GETs url over TLS 1.3 trusting only roots, without a client
// certificate: a server that requires one refuses the probe.
func getReadyz(ctx context.Context, url string, roots *x509.CertPool) (int, string, error) {
	tr := &http.Transport{TLSClientConfig: tlsx.ClientConfig(roots, nil), DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
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
