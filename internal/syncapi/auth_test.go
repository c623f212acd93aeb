package syncapi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTAuth: --auth jwt accepts a token of a configured consumer and
// refuses forged, expired and unknown ones, each with a reason that does not
// echo the token.
func TestJWTAuth(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	pubJSON := strings.ReplaceAll(pubPEM, "\n", `\n`)
	// the gateway's own export: GET /consumers/{consumer}/jwt
	file := filepath.Join(t.TempDir(), "consumers.json")
	if err := os.WriteFile(file, []byte(`{"data":[
		{"key":"sunbird-portal","algorithm":"HS256","secret":"portal-secret-0123456789"},
		{"key":"ops-job","algorithm":"RS256","rsa_public_key":"`+pubJSON+`"}],"next":null}`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := LoadJWTCredentials(file)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, Config{Auth: AuthJWT, JWTCredentials: creds}, fakeLoader{}, &recordingWriter{})
	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs := []byte("portal-secret-0123456789")
	future, past := time.Now().Add(time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	tests := []struct {
		name   string
		header string
		status int
		reason string
	}{
		{"HS256 of a consumer", "Bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"iss": "sunbird-portal"}), 200, ""},
		{"HS256 with exp ahead", "Bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"iss": "sunbird-portal", "exp": future}), 200, ""},
		{"lower-case scheme", "bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"iss": "sunbird-portal"}), 200, ""},
		{"RS256 of a consumer", "Bearer " + sign(jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"iss": "ops-job"}), 200, ""},
		{"forged: another secret", "Bearer " + sign(jwt.SigningMethodHS256, []byte("guessed-secret-0123456789"), jwt.MapClaims{"iss": "sunbird-portal"}), 401, "signature does not verify"},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"iss": "sunbird-portal", "exp": past}), 401, "expired"},
		{"not valid yet", "Bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"iss": "sunbird-portal", "nbf": future}), 401, "not valid yet"},
		{"unknown iss", "Bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"iss": "someone-else"}), 401, "no credential has the token's iss"},
		{"no iss", "Bearer " + sign(jwt.SigningMethodHS256, hs, jwt.MapClaims{"sub": "x"}), 401, "no iss"},
		// the public key used as an HMAC secret: the algorithm must be the credential's
		{"algorithm confusion", "Bearer " + sign(jwt.SigningMethodHS256, []byte(pubPEM), jwt.MapClaims{"iss": "ops-job"}), 401, "signed with HS256 but its credential uses RS256"},
		{"not a JWT", "Bearer abc.def", 401, "not a well-formed JWT"},
		{"no header", "", 401, "missing API key"},
		{"basic auth", "Basic dXNlcjpwYXNz", 401, "not Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", RouteSync, strings.NewReader(`{"request":{"objectType":"user","objectIds":["a"]}}`))
			req.Header.Set("Content-Type", "application/json")
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.reason) {
				t.Errorf("status %d, body %s; want %d with %q", rec.Code, rec.Body.String(), tt.status, tt.reason)
			}
			if _, token, _ := strings.Cut(tt.header, " "); len(token) > 20 && strings.Contains(rec.Body.String(), token[len(token)-20:]) {
				t.Error("the answer echoes the token")
			}
		})
	}
}

func TestLoadJWTCredentialsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not JSON":         `key=secret`,
		"empty":            `[]`,
		"no key":           `[{"secret":"s"}]`,
		"HS256, no secret": `[{"key":"k"}]`,
		"bad RSA key":      `[{"key":"k","algorithm":"RS256","rsa_public_key":"nope"}]`,
		"unknown alg":      `[{"key":"k","algorithm":"ES256","secret":"s"}]`,
		"duplicate key":    `[{"key":"k","secret":"a"},{"key":"k","secret":"b"}]`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadJWTCredentials(p); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), `"s"`) || strings.Contains(err.Error(), "secret\":") {
			t.Errorf("%s: the error shows a secret: %v", name, err)
		}
	}
}
