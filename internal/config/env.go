package config

import (
	"sort"
	"strings"
)

// ReservedEnvPrefixes start INDEXSYNC_ variables that are not settings:
// those of the tests and the bench, and any an operator's own scripts use.
var ReservedEnvPrefixes = []string{EnvPrefix + "TEST_", EnvPrefix + "BENCH_", EnvPrefix + "X_"}

// ScriptEnv are INDEXSYNC_ variables read by the scripts that ship with
// indexsync, not by the program (UserSync_run.sh finds the binary with it).
var ScriptEnv = []string{EnvPrefix + "BIN"}

// UnknownEnv returns an error naming each INDEXSYNC_ variable of environ
// that is no flag of any command, reserved prefix or script variable, with
// the nearest known name: a misspelt INDEXSYNC_CASANDRA_PASSWORD or
// INDEXSYNC_RATE would otherwise be ignored without a word, as an unknown
// key of the config file is not. Variables known to another command are
// fine: one environment file usually serves them all.
func UnknownEnv(environ []string, flags []string) error {
	known := map[string]bool{}
	names := make([]string, 0, len(flags))
	for _, f := range flags {
		known[EnvName(f)] = true
		names = append(names, EnvName(f))
	}
	for _, s := range ScriptEnv {
		known[s] = true
	}
	var problems []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || reserved(name) {
			continue
		}
		msg := name
		if near := nearest(name, names); near != "" {
			msg += " (did you mean " + near + "?)"
		}
		problems = append(problems, msg)
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return Usagef("unknown environment variable %s: indexsync reads INDEXSYNC_<FLAG> for its flags (--cassandra-hosts: INDEXSYNC_CASSANDRA_HOSTS); unset it, or name variables of your own scripts %s…",
		strings.Join(problems, ", "), ReservedEnvPrefixes[2])
}

func reserved(name string) bool {
	for _, p := range ReservedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// nearest returns the known name closest to name, if it is close enough to
// be a typo (an edit distance of at most a third of its length).
func nearest(name string, known []string) string {
	best, bestD := "", len(name)/3+1
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
