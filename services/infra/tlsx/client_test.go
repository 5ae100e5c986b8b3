package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseURISAN(t *testing.T) {
	cases := []struct {
		desc string
		in   string
		want string // error substring; "" means valid
	}{
		{desc: "spiffe id", in: "spiffe://passthru.demo/tenant/acme/app"},
		{desc: "urn", in: "urn:passthru:client:billing"},
		{desc: "https with query", in: "https://clients.example/app?env=prod"},
		{desc: "empty", in: "", want: "empty URI SAN"},
		{desc: "too long", in: "spiffe://x/" + strings.Repeat("a", 250), want: "the limit is 255"},
		{desc: "space", in: "spiffe://x/a b", want: "not printable ASCII"},
		{desc: "non-ASCII", in: "spiffe://x/é", want: "not printable ASCII"},
		{desc: "relative", in: "/just/a/path", want: "has no scheme"},
		{desc: "user info", in: "https://user:pw@example.com/", want: "carries user info"},
		{desc: "fragment", in: "spiffe://x/app#frag", want: "carries a fragment"},
		{desc: "empty fragment", in: "spiffe://x/app#", want: "carries a fragment"},
		{desc: "scheme only", in: "spiffe:", want: "names nothing after the scheme"},
		{desc: "not canonical", in: "SPIFFE://x/app", want: `write "spiffe://x/app"`},
		{desc: "unparsable", in: "spiffe://x/%zz", want: "invalid URL escape"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			u, err := ParseURISAN(tc.in)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.in, u.String())
				return
			}
			require.ErrorIs(t, err, ErrInvalidName)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestIssueClientCert(t *testing.T) {
	chain := newTestChain(t, ChainOptions{})
	other := newTestChain(t, ChainOptions{Name: "Other"})
	cases := []struct {
		desc     string
		opts     ClientCertOptions
		wantURIs []string
		wantDNS  []string
		wantErr  string
	}{
		{desc: "URI SAN", opts: ClientCertOptions{CommonName: "billing app", URIs: []string{"spiffe://passthru.demo/billing"}},
			wantURIs: []string{"spiffe://passthru.demo/billing"}},
		{desc: "DNS SAN", opts: ClientCertOptions{CommonName: "batch", DNSNames: []string{"batch.clients.local"}},
			wantDNS: []string{"batch.clients.local"}},
		{desc: "both", opts: ClientCertOptions{CommonName: "both", URIs: []string{"urn:passthru:both"}, DNSNames: []string{"both.local"}, KeyAlgorithm: KeyECDSAP384},
			wantURIs: []string{"urn:passthru:both"}, wantDNS: []string{"both.local"}},
		{desc: "no SAN", opts: ClientCertOptions{CommonName: "nobody"}, wantErr: "no URI or DNS SAN"},
		{desc: "bad URI", opts: ClientCertOptions{CommonName: "x", URIs: []string{"no-scheme"}}, wantErr: "has no scheme"},
		{desc: "bad DNS", opts: ClientCertOptions{CommonName: "x", DNSNames: []string{"*.wild.local"}}, wantErr: "DNS SAN"},
		{desc: "bad CN", opts: ClientCertOptions{CommonName: " padded", DNSNames: []string{"a.local"}}, wantErr: "leading or trailing spaces"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			leaf, err := IssueClientCert(chain, tc.opts)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.opts.CommonName, leaf.Cert.Subject.CommonName)
			var uris []string
			for _, u := range leaf.Cert.URIs {
				uris = append(uris, u.String())
			}
			assert.Equal(t, tc.wantURIs, uris)
			assert.Equal(t, tc.wantDNS, leaf.Cert.DNSNames)
			assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, leaf.Cert.ExtKeyUsage)

			verify := func(roots *x509.CertPool, usage x509.ExtKeyUsage) error {
				_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: poolOf(leaf.Intermediates), KeyUsages: []x509.ExtKeyUsage{usage}})
				return err
			}
			require.NoError(t, verify(chain.Pool(), x509.ExtKeyUsageClientAuth), "a client of our CA")
			assert.Error(t, verify(chain.Pool(), x509.ExtKeyUsageServerAuth), "a client certificate cannot serve")
			assert.Error(t, verify(other.Pool(), x509.ExtKeyUsageClientAuth), "another CA does not trust it")
		})
	}
}

func TestIssueLeafRefusesBadURIs(t *testing.T) {
	chain := newTestChain(t, ChainOptions{})
	cases := []struct {
		desc string
		uri  *url.URL
		want string
	}{
		{desc: "nil", uri: nil, want: "nil URI SAN"},
		{desc: "user info", uri: &url.URL{Scheme: "https", User: url.UserPassword("u", "p"), Host: "h"}, want: "user info"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := chain.IssueLeaf(LeafOptions{CommonName: "c", Style: CNStyleDescriptive, Client: true, URIs: []*url.URL{tc.uri}})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestWriteClientBundle(t *testing.T) {
	chain := newTestChain(t, ChainOptions{})
	leaf, err := IssueClientCert(chain, ClientCertOptions{CommonName: "billing", URIs: []string{"spiffe://passthru.demo/billing"}})
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "clients")
	b, err := WriteClientBundle(dir, "billing", leaf)
	require.NoError(t, err)
	assert.Equal(t, ClientBundle{
		CertFile: filepath.Join(dir, "billing.pem"), KeyFile: filepath.Join(dir, "billing-key.pem"),
		P12File: filepath.Join(dir, "billing.p12"), P12PasswordFile: filepath.Join(dir, "billing.p12.password"),
	}, b)
	for path, mode := range map[string]os.FileMode{b.CertFile: 0o644, b.KeyFile: 0o600, b.P12File: 0o600, b.P12PasswordFile: 0o600} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), path)
	}

	password, err := ReadP12Password(b.P12PasswordFile)
	require.NoError(t, err)
	assert.Len(t, password, 43, "32 random bytes, base64url")
	p12, err := ReadPKCS12(b.P12File, password)
	require.NoError(t, err)
	assert.True(t, p12.Cert.Equal(leaf.Cert))
	_, err = p12.Cert.Verify(x509.VerifyOptions{Roots: chain.Pool(), Intermediates: poolOf(p12.Intermediates), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "the .p12 carries the intermediates a server needs")
	_, err = ReadPKCS12(b.P12File, password+"x")
	assert.Error(t, err, "the password protects the bundle")

	pair, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
	require.NoError(t, err, "the PEM files load as a client certificate")
	assert.Len(t, pair.Certificate, 1+len(leaf.Intermediates))

	// A second bundle of the same name gets a new password.
	again, err := WriteClientBundle(dir, "billing", leaf)
	require.NoError(t, err)
	password2, err := ReadP12Password(again.P12PasswordFile)
	require.NoError(t, err)
	assert.NotEqual(t, password, password2)
}

func TestWriteClientBundleErrors(t *testing.T) {
	chain := newTestChain(t, ChainOptions{})
	leaf := clientLeaf(t, chain, "c")
	blocked := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o600))
	cases := []struct {
		desc, dir, name string
		leaf            *Leaf
		want            string
	}{
		{desc: "path in name", dir: t.TempDir(), name: "../x", leaf: leaf, want: "client name"},
		{desc: "upper case", dir: t.TempDir(), name: "Billing", leaf: leaf, want: "must be lowercase"},
		{desc: "nil leaf", dir: t.TempDir(), name: "x", leaf: nil, want: "leaf certificate and key required"},
		{desc: "no key", dir: t.TempDir(), name: "x", leaf: &Leaf{Cert: leaf.Cert}, want: "leaf certificate and key required"},
		{desc: "dir is a file", dir: filepath.Join(blocked, "sub"), name: "x", leaf: leaf, want: "not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := WriteClientBundle(tc.dir, tc.name, tc.leaf)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestReadP12Password(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		desc, body, want, wantErr string
		missing                   bool
	}{
		{desc: "plain", body: "secret", want: "secret"},
		{desc: "trailing newline", body: "secret\r\n", want: "secret"},
		{desc: "empty", body: "\n", wantErr: "empty"},
		{desc: "missing", missing: true, wantErr: "no such file"},
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p := filepath.Join(dir, string(rune('a'+i)))
			if !tc.missing {
				require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			}
			got, err := ReadP12Password(p)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestDemoClientBundle: a client bundle issued from the demo PKI lands under
// clients/ and is accepted by a server requiring client certificates of the
// demo CA.
func TestDemoClientBundle(t *testing.T) {
	dir := t.TempDir()
	pki, err := EnsureDemoPKI(dir, "kms")
	require.NoError(t, err)
	assert.Equal(t, dir, pki.Dir())
	b, leaf, err := pki.IssueClientBundle("batch", ClientCertOptions{URIs: []string{"spiffe://passthru.demo/batch"}})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, DemoClientsDir, "batch.p12"), b.P12File)
	assert.Equal(t, "batch", leaf.Cert.Subject.CommonName, "the CN defaults to the name")

	pair, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
	require.NoError(t, err)
	cfg, err := ServerConfigClientAuth(pki.Certificate, pki.Roots, tls.RequireAndVerifyClientCert)
	require.NoError(t, err)
	addr, results := startTLSServer(t, cfg)
	require.NoError(t, dialTLS(addr, "localhost", ClientConfig(pki.Roots, &pair)))
	seen := awaitHandshake(t, results)
	require.NoError(t, seen.err)
	assert.Equal(t, "batch", seen.principal)

	var nilPKI *ServerPKI
	_, _, err = nilPKI.IssueClientBundle("x", ClientCertOptions{DNSNames: []string{"x.local"}})
	require.ErrorIs(t, err, ErrNoIssuer)
	_, _, err = pki.IssueClientBundle("Bad", ClientCertOptions{DNSNames: []string{"x.local"}})
	require.ErrorIs(t, err, ErrInvalidName)
	_, _, err = pki.IssueClientBundle("nosan", ClientCertOptions{})
	require.ErrorContains(t, err, "no URI or DNS SAN")
}

// TestDemoClientBundlesConcurrently: services sharing one PKI directory may
// issue bundles at the same time; every bundle ends up complete.
func TestDemoClientBundlesConcurrently(t *testing.T) {
	dir := t.TempDir()
	pkis := make([]*ServerPKI, 2)
	for i, n := range []string{"kms", "identity"} {
		var err error
		pkis[i], err = EnsureDemoPKI(dir, n)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, _, errs[i] = pkis[i%2].IssueClientBundle("shared", ClientCertOptions{DNSNames: []string{"shared.local"}})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	password, err := ReadP12Password(filepath.Join(dir, DemoClientsDir, "shared.p12.password"))
	require.NoError(t, err)
	_, err = ReadPKCS12(filepath.Join(dir, DemoClientsDir, "shared.p12"), password)
	require.NoError(t, err, "the password file and the bundle belong together")
}

func TestServerConfigClientAuth(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 2})
	cert := serverLeaf(t, c).TLSCertificate()
	cases := []struct {
		desc    string
		cas     *x509.CertPool
		auth    tls.ClientAuthType
		wantErr string
	}{
		{desc: "none", auth: tls.NoClientCert},
		{desc: "optional", cas: c.Pool(), auth: tls.VerifyClientCertIfGiven},
		{desc: "required", cas: c.Pool(), auth: tls.RequireAndVerifyClientCert},
		{desc: "none with CAs", cas: c.Pool(), auth: tls.NoClientCert, wantErr: "not requested"},
		{desc: "optional without CAs", auth: tls.VerifyClientCertIfGiven, wantErr: "needs the client CA pool"},
		{desc: "required without CAs", auth: tls.RequireAndVerifyClientCert, wantErr: "needs the client CA pool"},
		{desc: "request without verify", cas: c.Pool(), auth: tls.RequestClientCert, wantErr: "does not verify"},
		{desc: "require any", cas: c.Pool(), auth: tls.RequireAnyClientCert, wantErr: "does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := ServerConfigClientAuth(cert, tc.cas, tc.auth)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Nil(t, cfg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.auth, cfg.ClientAuth)
			assert.Same(t, tc.cas, cfg.ClientCAs)
			assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
			assert.False(t, cfg.InsecureSkipVerify)
		})
	}
}
