package tlsx

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidName is wrapped by every name validation error of this package
// (FQDNs, DNS SANs, descriptive common names, demo service names).
var ErrInvalidName = errors.New("invalid name")

// CNStyle says what a leaf certificate's Common Name must look like.
type CNStyle int

const (
	// CNStyleFQDN (the zero value, so the default) requires the CN to be a
	// fully qualified domain name such as kms.passthru.demo.local. The CN is
	// also added to the DNS SANs, because TLS clients match host names
	// against SANs only.
	CNStyleFQDN CNStyle = iota
	// CNStyleDescriptive allows a free-text CN such as "Passthru KMS demo
	// client", still sanity-checked (printable UTF-8, no surrounding spaces).
	CNStyleDescriptive
)

// String names the style for error messages.
func (s CNStyle) String() string {
	switch s {
	case CNStyleFQDN:
		return "fqdn"
	case CNStyleDescriptive:
		return "descriptive"
	default:
		return fmt.Sprintf("CNStyle(%d)", int(s))
	}
}

const (
	maxFQDNLen  = 253
	maxLabelLen = 63
	// maxCNLen is ub-common-name of RFC 5280 (X.520): a CN longer than this
	// is not a valid certificate subject even if it is a valid FQDN.
	maxCNLen = 64
)

// ValidateFQDN checks that name is a fully qualified host name: at least two
// dot-separated labels, each 1-63 characters of ASCII letters, digits and
// hyphens that neither begins nor ends with a hyphen, at most 253 characters
// in total, no trailing dot, and a last label that is not all digits (so an
// IPv4 address is never mistaken for a host name). Errors wrap ErrInvalidName.
func ValidateFQDN(name string) error {
	labels, err := hostLabels(name)
	if err != nil {
		return err
	}
	if len(labels) < 2 {
		return fmt.Errorf("%w: %q is not fully qualified: need at least two labels (e.g. kms.passthru.demo.local)", ErrInvalidName, name)
	}
	return nil
}

// validateDNSName checks a DNS SAN: the FQDN rules, except that a single
// label such as "localhost" is allowed. Wildcards are not issued.
func validateDNSName(name string) error {
	_, err := hostLabels(name)
	return err
}

func hostLabels(name string) ([]string, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty host name", ErrInvalidName)
	}
	if len(name) > maxFQDNLen {
		return nil, fmt.Errorf("%w: host name is %d characters, the limit is %d", ErrInvalidName, len(name), maxFQDNLen)
	}
	labels := strings.Split(name, ".")
	for i, label := range labels {
		if err := validateLabel(label); err != nil {
			return nil, fmt.Errorf("%w: %q label %d: %s", ErrInvalidName, name, i+1, err)
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return nil, fmt.Errorf("%w: %q: the last label must not be all digits", ErrInvalidName, name)
	}
	return labels, nil
}

// validateLabel returns a bare reason (no sentinel) so callers can word it.
func validateLabel(label string) error {
	if label == "" {
		return errors.New("empty label (leading, trailing or doubled dot)")
	}
	if len(label) > maxLabelLen {
		return fmt.Errorf("label is %d characters, the limit is %d", len(label), maxLabelLen)
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return errors.New("label must not begin or end with a hyphen")
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %q is not a letter, digit or hyphen", rune(c))
		}
	}
	return nil
}

// validateDescriptive sanity-checks free text used as a CN or CA name: it
// ends up in logs and in openssl output, so it must be printable text.
func validateDescriptive(what, s string) error {
	return validatePrintable(what, s, maxCNLen)
}

// validatePrintable checks that s is non-empty printable UTF-8 of at most
// maxRunes characters without surrounding spaces.
func validatePrintable(what, s string, maxRunes int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidName, what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidName, what)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%w: %s %q has leading or trailing spaces", ErrInvalidName, what, s)
	case utf8.RuneCountInString(s) > maxRunes:
		return fmt.Errorf("%w: %s is %d characters, the limit is %d", ErrInvalidName, what, utf8.RuneCountInString(s), maxRunes)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %s %q contains a control or non-printable character", ErrInvalidName, what, s)
		}
	}
	return nil
}

// validateCommonName applies the rules of style to a leaf CN.
func validateCommonName(cn string, style CNStyle) error {
	switch style {
	case CNStyleFQDN:
		if err := ValidateFQDN(cn); err != nil {
			return fmt.Errorf("common name: %w", err)
		}
		if len(cn) > maxCNLen {
			return fmt.Errorf("%w: common name %q is %d characters, the certificate limit is %d; use a shorter CN", ErrInvalidName, cn, len(cn), maxCNLen)
		}
		return nil
	case CNStyleDescriptive:
		return validateDescriptive("common name", cn)
	default:
		return fmt.Errorf("%w: unknown CN style %v", ErrInvalidName, style)
	}
}

// ValidateDNSName checks a DNS SAN the way IssueLeaf does: the FQDN rules,
// except that a single label such as "localhost" is allowed; no wildcards.
// Errors wrap ErrInvalidName. Code that matches certificates by DNS SAN uses
// it to refuse names no certificate of this package can carry.
func ValidateDNSName(name string) error { return validateDNSName(name) }

// maxURISANLen bounds a URI SAN like any other principal name.
const maxURISANLen = maxPrincipalLen

// ParseURISAN parses a URI SAN: an absolute URI (with a scheme, e.g.
// spiffe://passthru.demo/app) of printable ASCII (certificates store URIs as
// IA5String), at most 255 characters, without user info (a certificate is
// public; a password in it would be published) or fragment, and written in
// the canonical form url.URL.String produces. The last rule makes matching
// by string exact: the SAN a certificate carries is that canonical form, so
// a rule written differently could never match. Errors wrap ErrInvalidName.
func ParseURISAN(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty URI SAN", ErrInvalidName)
	}
	if len(s) > maxURISANLen {
		return nil, fmt.Errorf("%w: URI SAN is %d characters, the limit is %d", ErrInvalidName, len(s), maxURISANLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return nil, fmt.Errorf("%w: URI SAN %q: character %q is not printable ASCII (spaces and non-ASCII must be percent-encoded)", ErrInvalidName, s, rune(c))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: URI SAN %q: %w", ErrInvalidName, s, err)
	}
	switch {
	case u.Scheme == "":
		return nil, fmt.Errorf("%w: URI SAN %q has no scheme (want an absolute URI such as spiffe://passthru.demo/app)", ErrInvalidName, s)
	case u.User != nil:
		return nil, fmt.Errorf("%w: URI SAN %q carries user info", ErrInvalidName, s)
	case u.Fragment != "" || strings.HasSuffix(s, "#"):
		return nil, fmt.Errorf("%w: URI SAN %q carries a fragment", ErrInvalidName, s)
	case u.Host == "" && u.Opaque == "" && u.Path == "":
		return nil, fmt.Errorf("%w: URI SAN %q names nothing after the scheme", ErrInvalidName, s)
	case u.String() != s:
		return nil, fmt.Errorf("%w: URI SAN %q is not in canonical form, write %q", ErrInvalidName, s, u.String())
	}
	return u, nil
}
