package middleware

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
)

// jwksDoc is the encoded key set of one *auth.KeySet.
type jwksDoc struct {
	ks   *auth.KeySet
	body []byte
	etag string
}

// jwksHandler answers GET with the public keys of the Authenticator's key
// set as a JSON Web Key Set (RFC 7517 §5, application/jwk-set+json), for
// services that verify the tokens themselves. The response is public and
// cacheable (WithJWKSMaxAge) with an ETag; a matching If-None-Match gets
// 304. HS256 keys are never published. The document is encoded once per
// key set, so a rotation (auth.Authenticator.SetKeys) is served at once.
func (h *Handler) jwksHandler(w http.ResponseWriter, r *http.Request) error {
	ks := h.a.Keys()
	d := h.jwks.Load()
	if d == nil || d.ks != ks {
		body, err := ks.JWKS()
		if err != nil {
			return fmt.Errorf("middleware: encoding JWKS: %w", err)
		}
		sum := sha256.Sum256(body)
		d = &jwksDoc{ks: ks, body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
		h.jwks.Store(d)
	}
	hd := w.Header()
	securityHeaders(hd)
	if h.c.jwksMaxAge > 0 {
		hd.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(h.c.jwksMaxAge/time.Second)))
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Set("ETag", d.etag)
	if etagMatch(r.Header.Get("If-None-Match"), d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(d.body)
	return nil
}

// etagMatch applies the weak comparison of If-None-Match (RFC 9110
// §13.1.2) to the list in header.
func etagMatch(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
