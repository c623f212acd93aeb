// Package secret holds credentials in a type that never prints its value:
// fmt, log/slog and encoding/json all see "REDACTED", so a password or API key
// cannot leak into logs, errors or summaries by accident.
package secret

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
)

// String is a secret text value. Its zero value is the empty secret.
type String struct {
	v string
}

// New wraps s.
func New(s string) String { return String{v: s} }

// Reveal returns the secret itself. Call it only where the value is handed to
// the server that checks it.
func (s String) Reveal() string { return s.v }

// IsSet reports whether the secret is non-empty.
func (s String) IsSet() bool { return s.v != "" }

const redacted = "REDACTED"

// String implements fmt.Stringer.
func (s String) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer so %#v does not print the value either.
func (s String) GoString() string { return s.String() }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler.
func (s String) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a secret from a JSON string (a credentials file).
func (s *String) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.v) }

// RedactURL returns a URL safe to print: the password of its userinfo and
// the value of every query parameter (an API key or token may travel there)
// become REDACTED. A URL that does not parse is masked up to its last '@'
// before the host's end, so a password still never shows.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		rest, scheme := raw, ""
		if i := strings.Index(raw, "://"); i >= 0 {
			scheme, rest = raw[:i+3], raw[i+3:]
		}
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			user, _, _ := strings.Cut(rest[:at], ":")
			return scheme + user + ":" + redacted + rest[at:]
		}
		if q := strings.IndexByte(raw, '?'); q >= 0 {
			return raw[:q] + "?" + redacted
		}
		return raw
	}
	_, hasPassword := u.User.Password()
	if !hasPassword && u.RawQuery == "" {
		return raw // nothing to hide: as given
	}
	if hasPassword {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{redacted}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
