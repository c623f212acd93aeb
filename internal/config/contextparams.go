package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/secret"
)

// OldJob is what the old job's --context_param arguments set beyond the
// connection settings: its block size and sleep.
type OldJob struct {
	BlockSize int // 0: not given
	// SleepMS is sunbird_user_sync_sleep_time; nil when not given. The old
	// rule: 0 or less means block size × 100 ms.
	SleepMS *int
}

// contextParams are the names the old job knew, for the error message.
const contextParams = "sunbird_cassandra_server, sunbird_cassandra_port, sunbird_cassandra_username, sunbird_cassandra_password, " +
	"sunbird_cassandra_keyspace, sunbird_user_sync_api_endpoint, sunbird_user_sync_api_key, sunbird_user_sync_block_size, sunbird_user_sync_sleep_time"

// ApplyContextParams translates the old job's --context_param name=value
// arguments into the settings. They are command-line arguments, so they win
// over the environment. Every bad one is reported at once; secrets are
// never echoed.
func ApplyContextParams(params []string, c *Cassandra, api *API) (OldJob, error) {
	var old OldJob
	var errs []error
	for _, p := range params {
		name, value, ok := strings.Cut(p, "=")
		value = strings.Trim(value, `"`)
		if !ok {
			errs = append(errs, fmt.Errorf("--context_param %q: want name=value", p))
			continue
		}
		var err error
		switch name {
		case "sunbird_cassandra_server":
			c.Hosts = strings.Split(value, ",")
		case "sunbird_cassandra_port":
			c.Port, err = strconv.Atoi(value)
		case "sunbird_cassandra_username":
			c.Username = value
		case "sunbird_cassandra_password":
			c.Password = secret.New(value)
		case "sunbird_cassandra_keyspace":
			c.Keyspace = value
		case "sunbird_user_sync_api_endpoint":
			api.Endpoint = value
		case "sunbird_user_sync_api_key":
			api.Key = secret.New(value)
		case "sunbird_user_sync_block_size":
			old.BlockSize, err = strconv.Atoi(value)
		case "sunbird_user_sync_sleep_time":
			var ms int
			if ms, err = strconv.Atoi(value); err == nil {
				old.SleepMS = &ms
			}
		default:
			errs = append(errs, fmt.Errorf("unknown --context_param %q (known: %s)", name, contextParams))
			continue
		}
		if err != nil {
			shown := value
			if strings.Contains(name, "password") || strings.Contains(name, "key") {
				shown = "REDACTED"
			}
			errs = append(errs, fmt.Errorf("--context_param %s=%q: %w", name, shown, err))
		}
	}
	return old, Join(errs...)
}

// Sleep is the old job's pause for a block size: its sleep time, or when
// that is 0 or less, block size × 100 ms. ok is false when no sleep time
// was given.
func (o OldJob) Sleep(blockSize int) (d time.Duration, ok bool) {
	if o.SleepMS == nil {
		return 0, false
	}
	if *o.SleepMS <= 0 {
		return time.Duration(blockSize) * 100 * time.Millisecond, true
	}
	return time.Duration(*o.SleepMS) * time.Millisecond, true
}

// ParseSleep reads --sleep: a Go duration (10s), or plain milliseconds
// (10000) as the old job took it.
func ParseSleep(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		if ms < 0 {
			return 0, fmt.Errorf("--sleep %q: must not be negative", s)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--sleep %q: give a duration (10s, 500ms) or milliseconds (10000)", s)
	}
	return d, nil
}
