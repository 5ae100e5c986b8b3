package load

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/passthru-dev/passthru/services/infra/demofile"
)

// Target is the pair of services a run measures, as their demo.json files
// describe them.
type Target struct {
	KMSURL, IdentityURL string
	CAFile              string
	KMS, Identity       *demofile.File
}

// TargetFromDemoFiles reads the two demo.json files; empty URLs and CA file
// default to what the files say. Both URLs must be loopback.
func TargetFromDemoFiles(kmsFile, identityFile, kmsURL, identityURL, caFile string) (*Target, error) {
	if kmsFile == "" || identityFile == "" {
		return nil, errors.New("both the KMS and the Identity demo.json are needed")
	}
	k, err := demofile.Read(kmsFile)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	i, err := demofile.Read(identityFile)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	t := &Target{KMSURL: kmsURL, IdentityURL: identityURL, CAFile: caFile, KMS: k, Identity: i}
	if t.KMSURL == "" {
		t.KMSURL = k.BaseURL
	}
	if t.IdentityURL == "" {
		t.IdentityURL = i.BaseURL
	}
	if t.CAFile == "" {
		t.CAFile = k.CAFile
	}
	for _, u := range []string{t.KMSURL, t.IdentityURL} {
		if err := CheckLoopback(u); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// ErrNotLoopback is returned for a target outside this machine: the
// harness sends thousands of authenticated requests and must never be
// pointed at someone else's service by mistake.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckLoopback accepts only https URLs whose host is a loopback IP
// literal or "localhost".
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme %q, want https", raw, u.Scheme)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q: %w (only 127.0.0.0/8, ::1 or localhost)", raw, ErrNotLoopback)
	}
	return nil
}

// NewClient returns the one client of a run: TLS 1.3 verified against the
// CA bundle only, HTTP/1.1 over at most conns connections per service, so
// that concurrency equals the number of TCP connections (as load tools
// that open one connection per virtual user measure).
func NewClient(caFile string, conns int, requestTimeout time.Duration) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificates", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool},
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // no h2
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		MaxIdleConns:        2 * conns, // two services
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		TLSHandshakeTimeout: requestTimeout,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, nil
}
