// Package search is a small REST client for the search engine that holds
// Sunbird's documents: Elasticsearch 6.8, 7.x and 8.x, and OpenSearch 1.x and
// 2.x, over net/http. It covers what indexsync needs and nothing more:
// version detection (Info), bulk writes with per-item retries (Bulk), document
// reads for verification (Get, MGet, ScanIDs, Count), and index and alias
// administration for rebuilds (CreateIndex, PutSettings, UpdateAliases, …).
//
// The official go-elasticsearch clients refuse servers that do not identify
// as Elasticsearch (so OpenSearch) and do not speak 6.8, hence this client.
// The version differences live in dialect.go (each provoked on the real
// engines by engines_test.go), retry decisions in retry.go.
//
// Errors are typed for the caller to choose an exit code: errors.Is with
// ErrUnreachable (*ConnectError), ErrUnauthorized, ErrPayloadTooLarge,
// ErrNotFound (*HTTPError), ErrUnsupportedVersion (*VersionError); a body
// that is not the engine's JSON is a *ResponseError; a read the engine
// answered as a write (a path of another version) is a *ReadWroteError. No error carries a
// password: node URLs are kept without userinfo, and text the server sends
// back is scrubbed of the credentials.
package search
