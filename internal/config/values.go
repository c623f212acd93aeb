package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/secret"
)

// ByteSize is a pflag.Value for sizes: 1048576, 512KiB, 5MiB, 1GiB (also KB,
// MB, GB as powers of 1000).
type ByteSize struct{ N *int64 }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseByteSize parses a size such as 5MiB.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			mult = u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (examples: 1048576, 512KiB, 5MiB)", s)
	}
	return n * mult, nil
}

// Set implements pflag.Value.
func (b ByteSize) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b.N = n
	return nil
}

// String implements pflag.Value.
func (b ByteSize) String() string {
	if b.N == nil {
		return "0"
	}
	n := *b.N
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// Type implements pflag.Value.
func (ByteSize) Type() string { return "size" }

// SecretList is a pflag.Value for a comma-separated list of secrets.
type SecretList struct{ L *[]secret.String }

// Set implements pflag.Value; each call replaces the list. Keys are
// separated by commas (spaces around them are dropped); an empty key is
// refused rather than skipped, since it usually means a key that held a
// comma was cut in two: such a key goes in a file, one a line.
func (v SecretList) Set(s string) error {
	var out []secret.String
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if p = strings.TrimSpace(p); p == "" {
			return fmt.Errorf("key %d of %d is empty: keys are separated by commas, so a key that contains a comma must go in the keys file (one a line)", i+1, len(parts))
		}
		out = append(out, secret.New(strings.TrimSpace(p)))
	}
	*v.L = out
	return nil
}

// String implements pflag.Value.
func (v SecretList) String() string {
	if v.L == nil || len(*v.L) == 0 {
		return ""
	}
	return fmt.Sprintf("%d keys (REDACTED)", len(*v.L))
}

// Type implements pflag.Value.
func (SecretList) Type() string { return "secrets" }

// ReadSecretLines reads one secret a line from path; blank lines and lines
// starting with # are skipped.
func ReadSecretLines(path string) ([]secret.String, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []secret.String
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, secret.New(line))
	}
	return out, nil
}

// AutoInt is a pflag.Value for a count whose default depends on other
// settings: "auto" (the default, kept as 0) or a number of at least 1. An
// explicit 0 is refused rather than taken silently as "auto".
type AutoInt struct{ N *int }

// Set implements pflag.Value.
func (a AutoInt) Set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		*a.N = 0
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a number: give a number of 1 or more, or auto", s)
	}
	if n < 1 {
		return fmt.Errorf("%d: give 1 or more, or auto for the default", n)
	}
	*a.N = n
	return nil
}

// String implements pflag.Value.
func (a AutoInt) String() string {
	if a.N == nil || *a.N == 0 {
		return "auto"
	}
	return strconv.Itoa(*a.N)
}

// Type implements pflag.Value.
func (AutoInt) Type() string { return "int|auto" }

// Bound returns an error naming flag when v is outside [lo, hi].
func Bound[T int | int64 | time.Duration](flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %v: give %v to %v", flag, v, lo, hi)
	}
	return nil
}
