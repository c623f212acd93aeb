package search

import "context"

// Hooks for the external tests of engines_test.go, which need testenv (and
// testenv imports this package).

// ForceDialect makes c speak the dialect of another engine version than the
// one GET / reports, as if detection had guessed wrong: the tests show what
// each engine does with the other versions' requests, and that the client
// notices.
func ForceDialect(c *Client, engine Engine, number string) {
	info, err := parseInfo([]byte(`{"version":{"number":"` + number + `"` + map[bool]string{true: `,"distribution":"opensearch"`}[engine == OpenSearch] + `}}`))
	if err != nil {
		panic(err)
	}
	d, ok := newDialect(info)
	if !ok {
		panic("unsupported: " + info.String())
	}
	c.dialect.Store(&d)
}

// Do sends one request through the client's own path (retries, error
// parsing, the read check): for answers no public method gives back, such
// as the string-shaped "error" of a missing alias.
func Do(ctx context.Context, c *Client, method, path string, body []byte, read bool) (int, []byte, error) {
	r := &request{op: "test", method: method, path: path, idempotent: true, read: read}
	res, err := c.do(ctx, r, body)
	if res == nil {
		return 0, nil, err
	}
	return res.status, res.body, err
}
