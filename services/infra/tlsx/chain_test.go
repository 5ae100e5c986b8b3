package tlsx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewChainStructure(t *testing.T) {
	fixed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		desc      string
		opts      ChainOptions
		wantLen   int
		wantCNs   []string
		wantCurve elliptic.Curve // nil: RSA
		wantRSA   int
	}{
		{
			desc:      "defaults: root, intermediate, issuing CA on P-256",
			opts:      ChainOptions{Now: func() time.Time { return fixed }},
			wantLen:   3,
			wantCNs:   []string{"Passthru Root CA", "Passthru Intermediate CA", "Passthru Issuing CA"},
			wantCurve: elliptic.P256(),
		},
		{
			desc:      "root only acts as the issuing CA",
			opts:      ChainOptions{Length: 1, Name: "Solo", Now: func() time.Time { return fixed }},
			wantLen:   1,
			wantCNs:   []string{"Solo Root CA"},
			wantCurve: elliptic.P256(),
		},
		{
			desc:      "root and issuing CA",
			opts:      ChainOptions{Length: 2, Name: "Two", Now: func() time.Time { return fixed }},
			wantLen:   2,
			wantCNs:   []string{"Two Root CA", "Two Issuing CA"},
			wantCurve: elliptic.P256(),
		},
		{
			desc:      "five CAs number their intermediates",
			opts:      ChainOptions{Length: 5, Name: "Deep", Now: func() time.Time { return fixed }},
			wantLen:   5,
			wantCNs:   []string{"Deep Root CA", "Deep Intermediate CA 1", "Deep Intermediate CA 2", "Deep Intermediate CA 3", "Deep Issuing CA"},
			wantCurve: elliptic.P256(),
		},
		{
			desc:      "P-384 keys",
			opts:      ChainOptions{KeyAlgorithm: KeyECDSAP384, Now: func() time.Time { return fixed }},
			wantLen:   3,
			wantCNs:   []string{"Passthru Root CA", "Passthru Intermediate CA", "Passthru Issuing CA"},
			wantCurve: elliptic.P384(),
		},
		{
			desc:    "RSA 2048 keys",
			opts:    ChainOptions{Length: 2, KeyAlgorithm: KeyRSA2048, Now: func() time.Time { return fixed }},
			wantLen: 2,
			wantCNs: []string{"Passthru Root CA", "Passthru Issuing CA"},
			wantRSA: 2048,
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := newTestChain(t, tc.opts)
			require.Len(t, c.CAs, tc.wantLen)
			assert.Same(t, c.CAs[0], c.Root())
			assert.Same(t, c.CAs[tc.wantLen-1], c.Issuing())
			serials := map[string]bool{}
			for i, ca := range c.CAs {
				cert := ca.Cert
				assert.Equal(t, tc.wantCNs[i], cert.Subject.CommonName)
				assert.True(t, cert.BasicConstraintsValid && cert.IsCA, "CA %d must be a CA", i)
				assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, cert.KeyUsage)
				wantPath := tc.wantLen - 1 - i
				assert.Equal(t, wantPath, cert.MaxPathLen, "MaxPathLen of CA %d", i)
				assert.Equal(t, wantPath == 0, cert.MaxPathLenZero, "MaxPathLenZero of CA %d", i)
				assert.Len(t, cert.SubjectKeyId, 20)
				assert.Equal(t, fixed.Add(-backdate), cert.NotBefore, "backdated against clock skew")
				assert.Equal(t, fixed.Add(DefaultCAValidity), cert.NotAfter)
				assert.Positive(t, cert.SerialNumber.Sign())
				assert.LessOrEqual(t, cert.SerialNumber.BitLen(), 128)
				// 128 random bits: a serial under 2^64 has odds of 2^-64.
				assert.Greater(t, cert.SerialNumber.BitLen(), 64)
				serials[cert.SerialNumber.String()] = true
				if i == 0 {
					require.NoError(t, cert.CheckSignatureFrom(cert), "root is self-signed")
				} else {
					parent := c.CAs[i-1].Cert
					require.NoError(t, cert.CheckSignatureFrom(parent))
					assert.Equal(t, parent.SubjectKeyId, cert.AuthorityKeyId)
					assert.Equal(t, parent.Subject.String(), cert.Issuer.String())
				}
				if tc.wantCurve != nil {
					pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
					require.True(t, ok)
					assert.Equal(t, tc.wantCurve, pub.Curve)
				} else {
					pub, ok := cert.PublicKey.(*rsa.PublicKey)
					require.True(t, ok)
					assert.Equal(t, tc.wantRSA, pub.N.BitLen())
				}
				assert.True(t, publicKeysEqual(ca.Key.Public(), cert.PublicKey), "key matches certificate")
			}
			assert.Len(t, serials, tc.wantLen, "serials are unique")
		})
	}
}

func TestNewChainRejectsBadOptions(t *testing.T) {
	cases := []struct {
		desc string
		opts ChainOptions
		want string
	}{
		{desc: "negative length", opts: ChainOptions{Length: -1}, want: "out of range"},
		{desc: "too long", opts: ChainOptions{Length: MaxChainLength + 1}, want: "out of range"},
		{desc: "negative validity", opts: ChainOptions{Validity: -time.Hour}, want: "negative validity"},
		{desc: "control character in name", opts: ChainOptions{Name: "Bad\nName"}, want: "CA name"},
		{desc: "name too long for a CN", opts: ChainOptions{Name: strings.Repeat("n", 50)}, want: "CA name"},
		{desc: "unknown key algorithm", opts: ChainOptions{KeyAlgorithm: "dsa-1024"}, want: "unknown key algorithm"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewChain(tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestChainAccessorsOnEmptyChain(t *testing.T) {
	cases := []struct {
		desc  string
		chain *Chain
	}{
		{desc: "nil chain", chain: nil},
		{desc: "chain without CAs", chain: &Chain{}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Nil(t, tc.chain.Root())
			assert.Nil(t, tc.chain.Issuing())
			pool := tc.chain.Pool()
			require.NotNil(t, pool, "a nil pool would mean system roots")
			assert.True(t, pool.Equal(x509.NewCertPool()), "an empty chain trusts nothing")
			_, err := tc.chain.IssueLeaf(LeafOptions{CommonName: "a.b", Server: true})
			assert.ErrorContains(t, err, "no issuing CA")
		})
	}
}

func TestPoolHoldsTheRootOnly(t *testing.T) {
	c := newTestChain(t, ChainOptions{})
	want := x509.NewCertPool()
	want.AddCert(c.Root().Cert)
	assert.True(t, c.Pool().Equal(want))
}

func TestIssueLeaf(t *testing.T) {
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	c := newTestChain(t, ChainOptions{Validity: 400 * 24 * time.Hour, Now: func() time.Time { return base }})
	cases := []struct {
		desc          string
		opts          LeafOptions
		wantDNS       []string
		wantIPs       []string
		wantEKU       []x509.ExtKeyUsage
		wantNotBefore time.Time
		wantNotAfter  time.Time
	}{
		{
			desc:          "fqdn server with SANs: CN joins the DNS SANs once",
			opts:          LeafOptions{CommonName: "kms.passthru.demo.local", DNSNames: []string{"localhost", "kms.passthru.demo.local"}, IPs: loopbackIPs, Server: true},
			wantDNS:       []string{"kms.passthru.demo.local", "localhost"},
			wantIPs:       []string{"127.0.0.1", "::1"},
			wantEKU:       []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantNotBefore: base.Add(-backdate),
			wantNotAfter:  base.Add(DefaultLeafValidity),
		},
		{
			desc:          "descriptive client: CN is not a DNS SAN",
			opts:          LeafOptions{CommonName: "Reporting batch job", Style: CNStyleDescriptive, Client: true, Validity: time.Hour},
			wantEKU:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			wantNotBefore: base.Add(-backdate),
			wantNotAfter:  base.Add(time.Hour),
		},
		{
			desc:          "server and client, validity clipped to the issuing CA",
			opts:          LeafOptions{CommonName: "both.test.local", Server: true, Client: true, Validity: 1000 * 24 * time.Hour},
			wantDNS:       []string{"both.test.local"},
			wantEKU:       []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			wantNotBefore: base.Add(-backdate),
			wantNotAfter:  base.Add(400 * 24 * time.Hour),
		},
		{
			desc:          "leaf clock before the CA: NotBefore clipped to the CA",
			opts:          LeafOptions{CommonName: "early.test.local", Server: true, Validity: 48 * time.Hour, Now: func() time.Time { return base.Add(-24 * time.Hour) }},
			wantDNS:       []string{"early.test.local"},
			wantEKU:       []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantNotBefore: base.Add(-backdate),
			wantNotAfter:  base.Add(24 * time.Hour),
		},
		{
			desc:          "P-384 leaf key",
			opts:          LeafOptions{CommonName: "p384.test.local", Server: true, KeyAlgorithm: KeyECDSAP384},
			wantDNS:       []string{"p384.test.local"},
			wantEKU:       []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantNotBefore: base.Add(-backdate),
			wantNotAfter:  base.Add(DefaultLeafValidity),
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			l := issue(t, c, tc.opts)
			cert := l.Cert
			assert.Equal(t, tc.opts.CommonName, cert.Subject.CommonName)
			assert.Equal(t, tc.wantDNS, cert.DNSNames)
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			assert.Equal(t, tc.wantIPs, ips)
			assert.Equal(t, tc.wantEKU, cert.ExtKeyUsage)
			assert.Equal(t, x509.KeyUsageDigitalSignature, cert.KeyUsage)
			assert.True(t, cert.BasicConstraintsValid)
			assert.False(t, cert.IsCA)
			assert.Equal(t, tc.wantNotBefore, cert.NotBefore)
			assert.Equal(t, tc.wantNotAfter, cert.NotAfter)
			assert.Len(t, cert.SubjectKeyId, 20)
			assert.Equal(t, c.Issuing().Cert.SubjectKeyId, cert.AuthorityKeyId)
			assert.Equal(t, 128 >= cert.SerialNumber.BitLen() && cert.SerialNumber.Sign() > 0, true)
			assert.True(t, publicKeysEqual(l.Key.Public(), cert.PublicKey))
			require.Len(t, l.Intermediates, 2, "issuing and intermediate, not root")
			assert.True(t, l.Intermediates[0].Equal(c.CAs[2].Cert))
			assert.True(t, l.Intermediates[1].Equal(c.CAs[1].Cert))

			inter := x509.NewCertPool()
			for _, ic := range l.Intermediates {
				inter.AddCert(ic)
			}
			_, err := cert.Verify(x509.VerifyOptions{
				Roots: c.Pool(), Intermediates: inter, CurrentTime: base,
				KeyUsages: tc.wantEKU,
			})
			require.NoError(t, err)

			tlsCert := l.TLSCertificate()
			require.Len(t, tlsCert.Certificate, 3)
			assert.True(t, bytes.Equal(cert.Raw, tlsCert.Certificate[0]))
			assert.True(t, bytes.Equal(c.CAs[2].Cert.Raw, tlsCert.Certificate[1]))
			assert.True(t, bytes.Equal(c.CAs[1].Cert.Raw, tlsCert.Certificate[2]))
			assert.Same(t, cert, tlsCert.Leaf)
			assert.Equal(t, l.Key, tlsCert.PrivateKey)
		})
	}
}

func TestIssueLeafRejectsBadOptions(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 2})
	keyless := &Chain{CAs: []*CA{{Cert: c.Root().Cert}}}
	cases := []struct {
		desc  string
		chain *Chain
		opts  LeafOptions
		want  string
	}{
		{desc: "CN is not an FQDN", opts: LeafOptions{CommonName: "kms", Server: true}, want: "not fully qualified"},
		{desc: "CN with underscore", opts: LeafOptions{CommonName: "k_ms.local", Server: true}, want: "not a letter"},
		{desc: "descriptive CN with control char", opts: LeafOptions{CommonName: "a\tb", Style: CNStyleDescriptive, Client: true}, want: "non-printable"},
		{desc: "neither server nor client", opts: LeafOptions{CommonName: "kms.test.local"}, want: "set Server, Client or both"},
		{desc: "wildcard DNS SAN", opts: LeafOptions{CommonName: "kms.test.local", DNSNames: []string{"*.test.local"}, Server: true}, want: "DNS SAN"},
		{desc: "malformed IP SAN", opts: LeafOptions{CommonName: "kms.test.local", IPs: []net.IP{{1, 2, 3}}, Server: true}, want: "invalid IP SAN"},
		{desc: "negative validity", opts: LeafOptions{CommonName: "kms.test.local", Server: true, Validity: -time.Second}, want: "negative validity"},
		{desc: "unknown key algorithm", opts: LeafOptions{CommonName: "kms.test.local", Server: true, KeyAlgorithm: "ed448"}, want: "unknown key algorithm"},
		{desc: "unknown CN style", opts: LeafOptions{CommonName: "kms.test.local", Style: CNStyle(5), Server: true}, want: "unknown CN style"},
		{desc: "issuing CA without key", chain: keyless, opts: LeafOptions{CommonName: "kms.test.local", Server: true}, want: "no issuing CA with a private key"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			chain := tc.chain
			if chain == nil {
				chain = c
			}
			_, err := chain.IssueLeaf(tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestOpenSSLVerifiesChain proves interop: the real openssl accepts the
// generated chains (strict RFC 5280 checks and the TLS purposes included),
// and refuses them against another root, so the check is not vacuous.
func TestOpenSSLVerifiesChain(t *testing.T) {
	p256 := newTestChain(t, ChainOptions{})
	deep := newTestChain(t, ChainOptions{Length: 4, Name: "Deep"})
	p384 := newTestChain(t, ChainOptions{Length: 2, Name: "P384", KeyAlgorithm: KeyECDSAP384})
	rsa := newTestChain(t, ChainOptions{Length: 2, Name: "RSA", KeyAlgorithm: KeyRSA2048})
	other := newTestChain(t, ChainOptions{Name: "Other"})
	cases := []struct {
		desc   string
		root   *Chain
		leaf   *Leaf
		extra  []string
		wantOK bool
	}{
		{desc: "default chain, server leaf", root: p256, leaf: serverLeaf(t, p256), wantOK: true},
		{desc: "default chain, server leaf, x509_strict and sslserver purpose", root: p256, leaf: serverLeaf(t, p256), extra: []string{"-x509_strict", "-purpose", "sslserver"}, wantOK: true},
		{desc: "default chain, client leaf, sslclient purpose", root: p256, leaf: clientLeaf(t, p256, "alice"), extra: []string{"-x509_strict", "-purpose", "sslclient"}, wantOK: true},
		{desc: "four CAs", root: deep, leaf: serverLeaf(t, deep), extra: []string{"-x509_strict"}, wantOK: true},
		{desc: "P-384 chain", root: p384, leaf: serverLeaf(t, p384), extra: []string{"-x509_strict"}, wantOK: true},
		{desc: "RSA chain", root: rsa, leaf: serverLeaf(t, rsa), extra: []string{"-x509_strict"}, wantOK: true},
		{desc: "server leaf is not a TLS client certificate", root: p256, leaf: serverLeaf(t, p256), extra: []string{"-purpose", "sslclient"}},
		{desc: "another root is refused", root: other, leaf: serverLeaf(t, p256)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rootPath, chainPath, leafPath := writeChainFiles(t, tc.root.Root().Cert, tc.leaf)
			args := append([]string{"verify"}, tc.extra...)
			args = append(args, "-CAfile", rootPath, "-untrusted", chainPath, leafPath)
			out, ok := runOpenSSL(t, args...)
			if tc.wantOK {
				assert.True(t, ok, "openssl verify failed: %s", out)
				assert.Contains(t, out, leafPath+": OK")
			} else {
				assert.False(t, ok, "openssl verify must refuse: %s", out)
			}
		})
	}
}
