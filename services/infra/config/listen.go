package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ValidateListen checks a listen address the way net.Listen("tcp", addr)
// will use it, so --check-config refuses what startup would: host:port with
// a numeric port 0..65535 (0 = any free port); the host is empty (all
// interfaces), an IP address (IPv6 in brackets) or a DNS name. It does not
// resolve names or bind: that is startup's job.
func ValidateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8081)", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || port != strconv.FormatUint(n, 10) {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" || net.ParseIP(host) != nil {
		return nil
	}
	// All digits and dots is meant as an IPv4 address, but is not one
	// (e.g. 256.0.0.1); a resolver would look it up as a name.
	if strings.Trim(host, "0123456789.") == "" {
		return fmt.Errorf("%q: %q is not a valid IPv4 address", addr, host)
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("%q: %q is not a valid IP address", addr, host)
	}
	if err := validHostname(host); err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	return nil
}

// validHostname accepts RFC 1123 names: labels of 1..63 letters, digits
// and inner hyphens, 253 bytes at most, an optional trailing dot.
func validHostname(host string) error {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("host %q is not a valid host name", host)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is not a valid host name", host)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("host %q is not a valid host name", host)
			}
		}
	}
	return nil
}
