package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
)

// Get returns the _source of one document; found is false when the document
// does not exist (a missing index is an error).
func (c *Client) Get(ctx context.Context, index, id string) (source json.RawMessage, found bool, err error) {
	r := &request{op: "get", method: http.MethodGet, path: docPath(index, id), idempotent: true, read: true}
	res, err := c.do(ctx, r, nil)
	if isMissingDoc(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s/%s: %w", index, id, err)
	}
	var doc struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	if err := c.decode(r, res, &doc); err != nil {
		return nil, false, fmt.Errorf("get %s/%s: %w", index, id, err)
	}
	return doc.Source, doc.Found, nil
}

// isMissingDoc: a 404 about the document itself carries no "error" member
// ({"found":false} or {"result":"not_found"}); a 404 about the index does.
func isMissingDoc(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusNotFound && he.Type == "" && he.Reason == ""
}

// MGet returns the _source of each of ids that exists in index; absent ids
// are simply not in the map. An error on any document (a missing index, an
// alias over several indices) fails the call.
func (c *Client) MGet(ctx context.Context, index string, ids []string) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	d, err := c.ensureDialect(ctx)
	if err != nil {
		return nil, fmt.Errorf("mget from %s: %w", index, err)
	}
	body, err := json.Marshal(struct {
		IDs []string `json:"ids"`
	}{ids})
	if err != nil {
		return nil, err
	}
	r := &request{op: "mget", method: http.MethodPost, path: d.mgetPath(index), idempotent: true, read: true}
	res, err := c.do(ctx, r, body)
	if err != nil {
		return nil, fmt.Errorf("mget from %s: %w", index, err)
	}
	docs, err := c.decodeMGet(r, res)
	if err != nil {
		return nil, fmt.Errorf("mget from %s: %w", index, err)
	}
	for _, doc := range docs {
		if doc.Error != nil {
			return nil, fmt.Errorf("mget from %s: document %s: %s", index, doc.ID, doc.Error)
		}
		if doc.Found {
			out[doc.ID] = doc.Source
		}
	}
	return out, nil
}

// mgetDoc is one document of an _mget answer.
type mgetDoc struct {
	ID     string
	Found  bool
	Source json.RawMessage // a slice of the answer, not a copy
	Error  *engineError
}

// decodeMGet reads an _mget answer. The documents' _source make up almost
// all of it and are only handed on as bytes, so it is validated once and
// then walked with gjson, which finds each member without decoding the
// sources (encoding/json took 30 % of verify's CPU doing that).
func (c *Client) decodeMGet(r *request, res *response) ([]mgetDoc, error) {
	if !gjson.ValidBytes(res.body) {
		return nil, c.responseError(r, res, errors.New("invalid JSON"))
	}
	docs := gjson.GetBytes(res.body, "docs")
	if !docs.IsArray() {
		return nil, c.responseError(r, res, errors.New(`no "docs" list`))
	}
	var out []mgetDoc
	var err error
	docs.ForEach(func(_, d gjson.Result) bool {
		var doc mgetDoc
		d.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "_id":
				doc.ID = v.String()
			case "found":
				doc.Found = v.Bool()
			case "_source":
				doc.Source = sliceOf(res.body, v)
			case "error":
				doc.Error = new(engineError)
				if uerr := json.Unmarshal(sliceOf(res.body, v), doc.Error); uerr != nil {
					err = c.responseError(r, res, uerr)
				}
			}
			return err == nil
		})
		out = append(out, doc)
		return err == nil
	})
	return out, err
}

// sliceOf returns the raw bytes of v inside body without copying them
// (gjson's Index is v's offset in body; a copy when it is unknown).
func sliceOf(body []byte, v gjson.Result) json.RawMessage {
	if end := v.Index + len(v.Raw); v.Index > 0 && end <= len(body) && string(body[v.Index:end]) == v.Raw {
		return body[v.Index:end]
	}
	return json.RawMessage(v.Raw)
}

// Delete deletes one document; found is false when it did not exist.
func (c *Client) Delete(ctx context.Context, index, id string) (found bool, err error) {
	r := &request{op: "delete", method: http.MethodDelete, path: docPath(index, id), idempotent: true}
	_, err = c.do(ctx, r, nil)
	if isMissingDoc(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %s/%s: %w", index, id, err)
	}
	return true, nil
}

// ScanOptions tune ScanIDs.
type ScanOptions struct {
	// PageSize is how many ids each page holds: 1000 when 0, at most 10000
	// (the engine's default index.max_result_window).
	PageSize int
	// KeepAlive is how long the engine keeps the scan open between pages,
	// so it bounds the time fn may take per page: 5 minutes when 0.
	KeepAlive time.Duration
}

// ScanPage is one page of ids.
type ScanPage struct {
	IDs []string
	// Total is the number of documents the scan will visit, as the engine
	// counted them when the scan started.
	Total int64
}

// ScanIDs calls fn with every document id in index (or alias), page by page,
// in no particular order. An error from fn stops the scan and is returned
// as is.
//
// It uses a scroll sorted by _doc: the cheapest full scan, the same on 6.8,
// 7.x, 8.x and OpenSearch, a consistent snapshot of the index, and it visits
// every document whatever fields it has. The alternatives fail one of those:
// sorting on _id needs fielddata on _id, which 8.x disables by default;
// search_after on a keyword field skips documents without the field and,
// without a point in time (7.10+ only), is no snapshot. Callers that need
// ids in order must sort them themselves.
func (c *Client) ScanIDs(ctx context.Context, index string, opts ScanOptions, fn func(ScanPage) error) error {
	d, err := c.ensureDialect(ctx)
	if err != nil {
		return fmt.Errorf("scan %s: %w", index, err)
	}
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	size = min(size, 10000)
	keepAlive := opts.KeepAlive
	if keepAlive <= 0 {
		keepAlive = 5 * time.Minute
	}
	keep := durationParam(keepAlive)

	r := &request{op: "scan", method: http.MethodPost, path: indexPath(index) + "/_search",
		query: "scroll=" + keep, idempotent: true, read: true}
	res, err := c.do(ctx, r, d.scanBody(size))
	if err != nil {
		return fmt.Errorf("scan %s: %w", index, err)
	}
	var scrollID string
	defer func() {
		if scrollID != "" {
			c.clearScroll(ctx, scrollID)
		}
	}()
	total := int64(-1)
	for {
		var page searchResponse
		if err := c.decode(r, res, &page); err != nil {
			return fmt.Errorf("scan %s: %w", index, err)
		}
		if page.ScrollID != "" {
			scrollID = page.ScrollID
		}
		if err := page.err(); err != nil {
			return fmt.Errorf("scan %s: %w", index, err)
		}
		if total < 0 {
			total = page.Hits.Total.Value
		}
		if len(page.Hits.Hits) == 0 {
			return nil
		}
		ids := make([]string, len(page.Hits.Hits))
		for i, h := range page.Hits.Hits {
			ids[i] = h.ID
		}
		if err := fn(ScanPage{IDs: ids, Total: total}); err != nil {
			return err
		}
		if scrollID == "" {
			return fmt.Errorf("scan %s: %w", index, c.responseError(r, res, errors.New("no _scroll_id in the answer")))
		}
		body, _ := json.Marshal(struct {
			Scroll   string `json:"scroll"`
			ScrollID string `json:"scroll_id"`
		}{keep, scrollID})
		// Not idempotent: sending a continuation twice would skip a page.
		r = &request{op: "scroll", method: http.MethodPost, path: "/_search/scroll", read: true}
		if res, err = c.do(ctx, r, body); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("scan %s: the scroll expired, a page took longer than %s to handle: %w", index, keepAlive, err)
			}
			return fmt.Errorf("scan %s: %w", index, err)
		}
	}
}

// clearScroll frees the scroll on the engine. Best effort: the engine frees
// it anyway when the keep-alive runs out, so a failure here harms nothing and
// must not hide the scan's own result.
func (c *Client) clearScroll(ctx context.Context, scrollID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(struct {
		ScrollID []string `json:"scroll_id"`
	}{[]string{scrollID}})
	r := &request{op: "clear_scroll", method: http.MethodDelete, path: "/_search/scroll"}
	_, _ = c.roundTrip(ctx, r, &payload{data: body}, nil)
}

// durationParam formats d as an engine time value ("300s", "1500ms").
func durationParam(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// searchResponse is the part of a search or scroll answer we read.
type searchResponse struct {
	ScrollID string      `json:"_scroll_id"`
	TimedOut bool        `json:"timed_out"`
	Shards   shardCounts `json:"_shards"`
	Hits     struct {
		Total totalHits `json:"total"`
		Hits  []struct {
			ID string `json:"_id"`
		} `json:"hits"`
	} `json:"hits"`
}

func (s *searchResponse) err() error {
	if err := s.Shards.err(); err != nil {
		return err
	}
	if s.TimedOut {
		return errors.New("the search timed out on the engine, the page may be incomplete")
	}
	return nil
}

// shardCounts is "_shards"; failed shards make an answer incomplete, which a
// count or a scan must not pass off as the truth.
type shardCounts struct {
	Total    int `json:"total"`
	Failed   int `json:"failed"`
	Failures []struct {
		Index  string       `json:"index"`
		Shard  int          `json:"shard"`
		Reason *engineError `json:"reason"`
	} `json:"failures"`
}

func (s shardCounts) err() error {
	if s.Failed == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d of %d shards failed, the answer is incomplete", s.Failed, s.Total)
	if len(s.Failures) > 0 && s.Failures[0].Reason != nil {
		f := s.Failures[0]
		msg += fmt.Sprintf(" (%s shard %d: %s)", f.Index, f.Shard, f.Reason)
	}
	return errors.New(msg)
}
