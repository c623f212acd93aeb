package syncapi

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/indexsync/indexsync/internal/secret"
)

// AuthMode is how the service checks its callers (--auth).
type AuthMode string

// The auth modes.
const (
	// AuthKeys accepts a bearer token equal to one of the configured keys.
	AuthKeys AuthMode = "keys"
	// AuthNone accepts every call: for a service that sits, like Sunbird's
	// own, behind the gateway on a cluster-internal address (Sunbird's
	// service route has no auth; the gateway checks the caller).
	AuthNone AuthMode = "none"
	// AuthJWT verifies the gateway consumers' JWTs, as the gateway's JWT
	// check does: the token's iss names a credential, whose algorithm,
	// HS256 secret or RS256 public key must verify it; exp and nbf are
	// checked when present.
	AuthJWT AuthMode = "jwt"
)

// ParseAuthMode reads --auth.
func ParseAuthMode(s string) (AuthMode, error) {
	switch m := AuthMode(strings.ToLower(strings.TrimSpace(s))); m {
	case AuthKeys, AuthNone, AuthJWT:
		return m, nil
	}
	return "", fmt.Errorf("--auth %q: use keys, none or jwt", s)
}

// JWTCredential is a gateway consumer's JWT credential, with the fields of
// the gateway's own (Kong's) credential objects.
type JWTCredential struct {
	Key          string        `json:"key"`       // matched against the token's iss
	Algorithm    string        `json:"algorithm"` // HS256 or RS256
	Secret       secret.String `json:"secret"`    // HS256
	RSAPublicKey string        `json:"rsa_public_key"`

	rsaKey *rsa.PublicKey
}

// LoadJWTCredentials reads a JSON file of credentials: a list of
// {"key","algorithm","secret"|"rsa_public_key"}, or the gateway's own export
// of them ({"data":[…]}, as GET /consumers/{consumer}/jwt answers).
func LoadJWTCredentials(path string) ([]JWTCredential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var creds []JWTCredential
	if err := json.Unmarshal(b, &creds); err != nil {
		var export struct {
			Data []JWTCredential `json:"data"`
		}
		if err2 := json.Unmarshal(b, &export); err2 != nil || export.Data == nil {
			return nil, fmt.Errorf("%s: want a JSON list of credentials ({\"key\",\"algorithm\",\"secret\" or \"rsa_public_key\"}) or {\"data\":[…]}: %v", path, err)
		}
		creds = export.Data
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%s holds no credentials", path)
	}
	seen := map[string]bool{}
	for i := range creds {
		c := &creds[i]
		if c.Algorithm == "" {
			c.Algorithm = "HS256" // the gateway's default
		}
		where := fmt.Sprintf("%s: credential %d (key %q)", path, i, c.Key)
		switch {
		case c.Key == "":
			return nil, fmt.Errorf("%s: credential %d has no key (the value tokens carry as iss)", path, i)
		case seen[c.Key]:
			return nil, fmt.Errorf("%s: two credentials have the key %q", path, c.Key)
		case c.Algorithm == "HS256" && !c.Secret.IsSet():
			return nil, fmt.Errorf("%s: HS256 needs a secret", where)
		case c.Algorithm == "RS256":
			if c.rsaKey, err = parseRSAPublicKey(c.RSAPublicKey); err != nil {
				return nil, fmt.Errorf("%s: rsa_public_key: %w", where, err)
			}
		case c.Algorithm != "HS256":
			return nil, fmt.Errorf("%s: algorithm %q is not supported (HS256 or RS256)", where, c.Algorithm)
		}
		seen[c.Key] = true
	}
	return creds, nil
}

func parseRSAPublicKey(s string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

// authenticator checks one call.
type authenticator func(r *http.Request) error

// newAuthenticator builds the check of a mode.
func newAuthenticator(cfg Config) (authenticator, error) {
	switch cfg.Auth {
	case AuthNone:
		return func(*http.Request) error { return nil }, nil
	case AuthKeys, "":
		if len(cfg.APIKeys) == 0 {
			return nil, errors.New("no API key configured: set --api-keys / --api-keys-file (or INDEXSYNC_API_KEYS), or choose --auth none or --auth jwt")
		}
		return keyCheck(cfg.APIKeys), nil
	case AuthJWT:
		if len(cfg.JWTCredentials) == 0 {
			return nil, errors.New("--auth jwt needs the consumers' credentials: set --jwt-credentials-file")
		}
		return jwtCheck(cfg.JWTCredentials), nil
	}
	return nil, fmt.Errorf("unknown auth mode %q", cfg.Auth)
}

// bearer returns the token of an Authorization: Bearer header; the scheme
// is case-insensitive (RFC 9110 §11.1).
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errors.New("missing API key: send Authorization: Bearer <key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("the Authorization header is not Bearer <key>")
	}
	return strings.TrimSpace(token), nil
}

// keyCheck compares the token with every key in constant time, over
// SHA-256 digests so that neither the keys' lengths nor which key matched
// show in the time taken.
func keyCheck(keys []secret.String) authenticator {
	sums := make([][sha256.Size]byte, len(keys))
	for i, k := range keys {
		sums[i] = sha256.Sum256([]byte(k.Reveal()))
	}
	return func(r *http.Request) error {
		token, err := bearer(r)
		if err != nil {
			return err
		}
		got := sha256.Sum256([]byte(token))
		match := 0
		for i := range sums {
			match |= subtle.ConstantTimeCompare(got[:], sums[i][:])
		}
		if match != 1 {
			return errors.New("the API key was not accepted: check the key sent in Authorization: Bearer <key>")
		}
		return nil
	}
}

// jwtCheck verifies a consumer's JWT: iss (in the claims, else the header)
// names the credential; the token's alg must be the credential's.
func jwtCheck(creds []JWTCredential) authenticator {
	byKey := make(map[string]*JWTCredential, len(creds))
	for i := range creds {
		byKey[creds[i].Key] = &creds[i]
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "RS256"}))
	return func(r *http.Request) error {
		token, err := bearer(r)
		if err != nil {
			return err
		}
		_, err = parser.Parse(token, func(t *jwt.Token) (any, error) {
			iss, _ := t.Claims.(jwt.MapClaims)["iss"].(string)
			if iss == "" {
				iss, _ = t.Header["iss"].(string)
			}
			if iss == "" {
				return nil, errors.New("the token has no iss claim")
			}
			c, ok := byKey[iss]
			if !ok {
				return nil, errors.New("no credential has the token's iss as its key")
			}
			if t.Method.Alg() != c.Algorithm {
				return nil, fmt.Errorf("the token is signed with %s but its credential uses %s", t.Method.Alg(), c.Algorithm)
			}
			if c.rsaKey != nil {
				return c.rsaKey, nil
			}
			return []byte(c.Secret.Reveal()), nil
		})
		if err != nil {
			return fmt.Errorf("the JWT was not accepted: %s", jwtReason(err))
		}
		return nil
	}
}

// jwtReason names why a token failed, without echoing any of it.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "it has expired (exp)"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "it is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrSignatureInvalid):
		return "its signature does not verify with its credential"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "it is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// the key lookup's own message says what was wrong (iss, algorithm)
		if _, after, ok := strings.Cut(err.Error(), "error while executing keyfunc: "); ok {
			return after
		}
	}
	return "it is not valid"
}
