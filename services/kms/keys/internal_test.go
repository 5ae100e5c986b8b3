package keys

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

func TestCryptoErrorMapping(t *testing.T) {
	tests := []struct {
		desc string
		in   error
		want kms.Code
	}{
		{desc: "malformed", in: &keycrypto.Error{Code: keycrypto.CodeMalformed}, want: kms.MalformedSignature},
		{desc: "unknown kid", in: &keycrypto.Error{Code: keycrypto.CodeUnknownKid}, want: kms.UnknownKid},
		{desc: "wrong context", in: &keycrypto.Error{Code: keycrypto.CodeWrongContext}, want: kms.ContextMismatch},
		{desc: "decrypt", in: &keycrypto.Error{Code: keycrypto.CodeDecrypt}, want: kms.DecryptionFailed},
		{desc: "wrong purpose", in: &keycrypto.Error{Code: keycrypto.CodeWrongPurpose}, want: kms.WrongPurpose},
		{desc: "algorithm mismatch", in: &keycrypto.Error{Code: keycrypto.CodeUnsupportedAlgorithm}, want: kms.AlgorithmMismatch},
		{desc: "invalid material is internal", in: &keycrypto.Error{Code: keycrypto.CodeInvalidMaterial}, want: kms.Internal},
		{desc: "service errors pass through", in: kms.New(kms.VersionDisabled, "x"), want: kms.VersionDisabled},
		{desc: "other errors stay internal", in: errors.New("db"), want: kms.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, kms.CodeOf(cryptoError(tc.in, kms.MalformedSignature)))
		})
	}
}
