package config

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		addr    string
		wantErr string
	}{
		{desc: "loopback with port", addr: "127.0.0.1:8081"},
		{desc: "any free port", addr: "127.0.0.1:0"},
		{desc: "all interfaces", addr: ":8081"},
		{desc: "ipv6 loopback", addr: "[::1]:8082"},
		{desc: "host name", addr: "localhost:65535"},
		{desc: "fqdn with trailing dot", addr: "kms.passthru.demo.local.:443"},
		{desc: "no port", addr: "notanaddr", wantErr: `"notanaddr" is not host:port`},
		{desc: "empty", addr: "", wantErr: "is not host:port"},
		{desc: "port too large", addr: "127.0.0.1:99999", wantErr: `port "99999" is not a number from 0 to 65535`},
		{desc: "named port", addr: "127.0.0.1:http", wantErr: `port "http"`},
		{desc: "empty port", addr: "127.0.0.1:", wantErr: `port ""`},
		{desc: "signed port", addr: "127.0.0.1:+80", wantErr: `port "+80"`},
		{desc: "leading zero port", addr: "127.0.0.1:080", wantErr: `port "080"`},
		{desc: "ipv4 out of range", addr: "256.0.0.1:80", wantErr: `"256.0.0.1" is not a valid IPv4 address`},
		{desc: "bad ipv6", addr: "[::g]:80", wantErr: "not a valid IP address"},
		{desc: "space in host", addr: "my host:80", wantErr: "not a valid host name"},
		{desc: "label starting with hyphen", addr: "-kms.local:80", wantErr: "not a valid host name"},
		{desc: "empty label", addr: "kms..local:80", wantErr: "not a valid host name"},
		{desc: "label too long", addr: strings.Repeat("a", 64) + ".local:80", wantErr: "not a valid host name"},
		{desc: "name too long", addr: strings.Repeat("a.", 127) + "ab:80", wantErr: "not a valid host name"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := ValidateListen(tc.addr)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestValidateListenAgreesWithListen: what ValidateListen accepts on
// loopback, net.Listen binds.
func TestValidateListenAgreesWithListen(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		require.NoError(t, ValidateListen(addr))
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err, addr)
		require.NoError(t, ln.Close())
	}
}
