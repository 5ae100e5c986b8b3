package telemetry

import (
	"errors"
	"net/url"
)

// ValidateExport checks a service's OTLP settings the way New will use them,
// with errors naming the services' config keys (log.otlp_endpoint,
// log.otlp_ca_file), so --check-config refuses what startup would refuse.
func ValidateExport(endpoint, caFile string) []error {
	if endpoint == "" {
		if caFile != "" {
			return []error{errors.New("log.otlp_ca_file: set without log.otlp_endpoint")}
		}
		return nil
	}
	var errs []error
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// Not echoing the value: it might carry credentials.
		errs = append(errs, errors.New("log.otlp_endpoint: must be an https URL (https://host[:port][/path]) without credentials, query or fragment"))
	}
	if caFile == "" {
		errs = append(errs, errors.New("log.otlp_ca_file: required with log.otlp_endpoint (the collector's CA bundle; system roots are never used)"))
	}
	return errs
}
