// Package secret holds credentials in a type that never prints its value:
// fmt, log/slog and encoding/json all see "REDACTED", so a password or API key
// cannot leak into logs, errors or summaries by accident.
package secret

import (
	"encoding/json"
	"log/slog"
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
