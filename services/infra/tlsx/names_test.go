package tlsx

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateFQDN(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 4 x 63 + 3 dots = 255; trim to exactly 253 and one past it.
	long := strings.Join([]string{label63, label63, label63, label63}, ".")
	cases := []struct {
		desc string
		name string
		ok   bool
	}{
		{desc: "demo service name", name: "kms.passthru.demo.local", ok: true},
		{desc: "two labels", name: "example.com", ok: true},
		{desc: "digits and hyphens inside labels", name: "a-1.b2-c.example", ok: true},
		{desc: "uppercase letters", name: "KMS.Passthru.Local", ok: true},
		{desc: "all-digit label not last", name: "1.example.com", ok: true},
		{desc: "63-character label", name: label63 + ".local", ok: true},
		{desc: "253 characters in total", name: long[:253], ok: true},
		{desc: "254 characters in total", name: long[:251] + ".ab"},
		{desc: "64-character label", name: label63 + "a.local"},
		{desc: "empty", name: ""},
		{desc: "single label", name: "localhost"},
		{desc: "leading hyphen", name: "-kms.passthru.local"},
		{desc: "trailing hyphen", name: "kms-.passthru.local"},
		{desc: "trailing dot", name: "kms.passthru.local."},
		{desc: "leading dot", name: ".kms.passthru.local"},
		{desc: "empty label", name: "kms..local"},
		{desc: "underscore", name: "k_ms.passthru.local"},
		{desc: "space", name: "kms passthru.local"},
		{desc: "wildcard", name: "*.passthru.local"},
		{desc: "non-ASCII", name: "kms.pässthru.local"},
		{desc: "IPv4 address", name: "127.0.0.1"},
		{desc: "all-digit last label", name: "kms.123"},
		{desc: "NUL byte", name: "kms\x00.local"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := ValidateFQDN(tc.name)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidName)
		})
	}
}

func TestValidateDNSName(t *testing.T) {
	cases := []struct {
		desc string
		name string
		ok   bool
	}{
		{desc: "single label localhost", name: "localhost", ok: true},
		{desc: "fqdn", name: "kms.passthru.demo.local", ok: true},
		{desc: "wildcard", name: "*.passthru.demo.local"},
		{desc: "empty", name: ""},
		{desc: "IP address", name: "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := validateDNSName(tc.name)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalidName)
			}
		})
	}
}

func TestValidateCommonName(t *testing.T) {
	cases := []struct {
		desc  string
		cn    string
		style CNStyle
		ok    bool
	}{
		{desc: "fqdn style with fqdn", cn: "kms.passthru.demo.local", style: CNStyleFQDN, ok: true},
		{desc: "fqdn style with free text", cn: "Passthru KMS", style: CNStyleFQDN},
		{desc: "fqdn style longer than a CN may be", cn: strings.Repeat("a", 60) + ".local", style: CNStyleFQDN},
		{desc: "descriptive free text", cn: "Passthru KMS demo client", style: CNStyleDescriptive, ok: true},
		{desc: "descriptive unicode", cn: "Zürich service ✓", style: CNStyleDescriptive, ok: true},
		{desc: "descriptive empty", cn: "", style: CNStyleDescriptive},
		{desc: "descriptive leading space", cn: " alice", style: CNStyleDescriptive},
		{desc: "descriptive newline", cn: "alice\nadmin", style: CNStyleDescriptive},
		{desc: "descriptive NUL", cn: "alice\x00", style: CNStyleDescriptive},
		{desc: "descriptive invalid UTF-8", cn: "al\xffice", style: CNStyleDescriptive},
		{desc: "descriptive 65 characters", cn: strings.Repeat("x", 65), style: CNStyleDescriptive},
		{desc: "unknown style", cn: "alice", style: CNStyle(7)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := validateCommonName(tc.cn, tc.style)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalidName)
			}
		})
	}
}

func TestCNStyleString(t *testing.T) {
	cases := []struct {
		desc  string
		style CNStyle
		want  string
	}{
		{desc: "fqdn", style: CNStyleFQDN, want: "fqdn"},
		{desc: "descriptive", style: CNStyleDescriptive, want: "descriptive"},
		{desc: "unknown", style: CNStyle(9), want: "CNStyle(9)"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.style.String())
		})
	}
}
