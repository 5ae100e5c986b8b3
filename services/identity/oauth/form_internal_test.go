package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParsePostFormContentType(t *testing.T) {
	for _, tc := range []struct {
		desc, contentType string
		ok                bool
	}{
		{desc: "exact", contentType: "application/x-www-form-urlencoded", ok: true},
		{desc: "other case", contentType: "Application/X-WWW-Form-Urlencoded", ok: true},
		{desc: "with a charset", contentType: "application/x-www-form-urlencoded; charset=UTF-8", ok: true},
		{desc: "JSON", contentType: "application/json"},
		{desc: "missing"},
		{desc: "malformed", contentType: "application/x-www-form-urlencoded; charset"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader("grant_type=client_credentials"))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			e := parsePostForm(r)
			if !tc.ok {
				if assert.NotNil(t, e) {
					assert.Equal(t, "invalid_request", e.Code)
				}
				return
			}
			if assert.Nil(t, e) {
				assert.Equal(t, "client_credentials", r.PostForm.Get("grant_type"))
			}
		})
	}
}
