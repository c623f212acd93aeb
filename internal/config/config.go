// Package config layers indexsync's settings: a flag given on the command line
// wins over the INDEXSYNC_<NAME> environment variable, which wins over the key
// of the same name in the --config YAML file, which wins over the default.
//
// The layering works on any pflag.FlagSet, so each command declares its flags
// once (in option structs with AddFlags) and gets env and file support for free.
package config

import (
	"github.com/indexsync/indexsync/internal/outcome"

	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable indexsync reads.
const EnvPrefix = "INDEXSYNC_"

// UsageError marks a problem with flags, environment or configuration file:
// the command line must change, retrying will not help.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Class implements outcome.Classed: bad usage.
func (e *UsageError) Class() outcome.Class { return outcome.Usage }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Join combines errors into one UsageError (nil when all are nil), so a user
// sees every problem with the settings at once.
func Join(errs ...error) error {
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// EnvName is the environment variable for a flag: --cassandra-port becomes
// INDEXSYNC_CASSANDRA_PORT.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// File holds the settings read from a --config YAML file, keyed by flag name.
type File map[string]string

// LoadFile reads a YAML file of flag-name keys. Scalars are taken as written;
// a list becomes a comma-separated value, as the comma-list flags expect.
func LoadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("read config file: %w", err)}
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("config file %s is not valid YAML: %w", path, err)}
	}
	f := File{}
	var errs []error
	for k, v := range raw {
		switch v := v.(type) {
		case nil:
			// key present without value: leave the default
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			f[k] = strings.Join(parts, ",")
		case map[string]any:
			errs = append(errs, fmt.Errorf("config file %s: key %q holds a map; use flat keys named like the flags (cassandra-hosts: …)", path, k))
		default:
			f[k] = fmt.Sprint(v)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &UsageError{Err: err}
	}
	return f, nil
}

// UnknownKeys lists the file's keys that name no flag known to the program,
// sorted, so a typo in the file is reported instead of silently ignored.
func (f File) UnknownKeys(known func(name string) bool) []string {
	var out []string
	for k := range f {
		if !known(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Layer fills each flag of fs that was not given on the command line, first
// from the environment, then from the file. All bad values are reported at
// once, each naming where it came from.
func Layer(fs *pflag.FlagSet, lookupEnv func(string) (string, bool), file File) error {
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed {
			return
		}
		source, value, ok := "", "", false
		if v, found := lookupEnv(EnvName(fl.Name)); found {
			source, value, ok = EnvName(fl.Name), v, true
		} else if v, found := file[fl.Name]; found {
			source, value, ok = "config file key "+fl.Name, v, true
		}
		if !ok {
			return
		}
		if err := setFlag(fs, fl, value); err != nil {
			shown := value
			if isSecretFlag(fl) {
				shown = "REDACTED"
			}
			errs = append(errs, fmt.Errorf("invalid value %q from %s: %w", shown, source, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// setFlag sets a flag without marking it Changed on the command line, and
// replaces (instead of appending to) slice flags.
func setFlag(fs *pflag.FlagSet, fl *pflag.Flag, value string) error {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return sv.Replace(splitList(value))
	}
	return fl.Value.Set(value)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isSecretFlag(fl *pflag.Flag) bool {
	switch fl.Value.(type) {
	case *SecretValue, SecretList:
		return true
	}
	return false
}
