package keys

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/services/kms/kmserr"
)

func TestCryptoErrorMapping(t *testing.T) {
	tests := []struct {
		desc string
		in   error
		want kmserr.Code
	}{
		{desc: "malformed", in: &keycrypto.Error{Code: keycrypto.CodeMalformed}, want: kmserr.MalformedSignature},
		{desc: "unknown kid", in: &keycrypto.Error{Code: keycrypto.CodeUnknownKid}, want: kmserr.UnknownKid},
		{desc: "wrong context", in: &keycrypto.Error{Code: keycrypto.CodeWrongContext}, want: kmserr.ContextMismatch},
		{desc: "decrypt", in: &keycrypto.Error{Code: keycrypto.CodeDecrypt}, want: kmserr.DecryptionFailed},
		{desc: "wrong purpose", in: &keycrypto.Error{Code: keycrypto.CodeWrongPurpose}, want: kmserr.WrongPurpose},
		{desc: "algorithm mismatch", in: &keycrypto.Error{Code: keycrypto.CodeUnsupportedAlgorithm}, want: kmserr.AlgorithmMismatch},
		{desc: "invalid material is internal", in: &keycrypto.Error{Code: keycrypto.CodeInvalidMaterial}, want: kmserr.Internal},
		{desc: "service errors pass through", in: kmserr.New(kmserr.VersionDisabled, "x"), want: kmserr.VersionDisabled},
		{desc: "other errors stay internal", in: errors.New("db"), want: kmserr.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, kmserr.CodeOf(cryptoError(tc.in, kmserr.MalformedSignature)))
		})
	}
}
