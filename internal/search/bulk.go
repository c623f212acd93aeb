package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/indexsync/indexsync/internal/backoff"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Op is a bulk operation.
type Op uint8

// The bulk operations we use.
const (
	OpIndex  Op = iota // full replace of the document, as Sunbird writes
	OpDelete           // remove the document; a missing one counts as done
)

func (o Op) String() string {
	switch o {
	case OpIndex:
		return "index"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// BulkItem is one operation of a bulk request.
type BulkItem struct {
	ID  string
	Op  Op
	Doc json.RawMessage // the document for OpIndex: valid JSON; ignored for OpDelete
}

// ItemResult is the outcome of one BulkItem.
type ItemResult struct {
	ID       string
	Status   int    // the item's HTTP status; 0 if it never got one
	OK       bool   // indexed, or deleted (or already absent)
	Result   string // "created", "updated", "deleted", "not_found", …
	Error    string // "type: reason" when not OK
	Attempts int    // how many times it was sent
}

// bulkQuery trims each item's answer to what we read: without it the engine
// sends _index, _id, _version, _shards, _seq_no… for every item.
const bulkQuery = "filter_path=errors,items.*.status,items.*.result,items.*.error"

// Pools for the hot path: request bodies and response bodies are reused
// across Bulk calls. Buffers that grew past maxPooled are left to the GC.
const maxPooled = 16 << 20

var (
	bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	respPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// Bulk sends items to index (an index or an alias) in one _bulk request and
// reports every item, in order.
//
// Items that fail with a retryable status (429 rejections, 5xx) are sent
// again, alone, with backoff, up to Config.Retries times; the whole request is
// sent again on transport errors and on a retryable status of the request
// itself, honouring Retry-After. Other item failures (a mapping error, a
// missing index) are final and reported with the engine's reason.
//
// The error is non-nil when the request as a whole failed for good (the
// engine unreachable, credentials rejected, 413, retries used up, ctx done);
// the results then still cover every item: those confirmed by an earlier
// attempt stay OK, the rest carry the error. With a nil error, per-item
// failures are only in the results.
func (c *Client) Bulk(ctx context.Context, index string, items []BulkItem) ([]ItemResult, error) {
	results := make([]ItemResult, len(items))
	pending := make([]int, 0, len(items))
	for i := range items {
		results[i].ID = items[i].ID
		if msg := items[i].invalid(); msg != "" {
			results[i].Error = msg
			continue
		}
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return results, nil
	}
	fail := func(err error) ([]ItemResult, error) {
		for _, i := range pending {
			results[i].Status = statusOf(err)
			results[i].Error = err.Error()
		}
		return results, err
	}
	if index == "" {
		return fail(errors.New("bulk: no index given"))
	}
	d, err := c.ensureDialect(ctx)
	if err != nil {
		return fail(fmt.Errorf("bulk into %s: %w", index, err))
	}
	enc := d.bulkEncoder(index)
	r := &request{op: "bulk", method: http.MethodPost, path: "/_bulk", query: bulkQuery,
		contentType: "application/x-ndjson", idempotent: true}

	bp := bodyPool.Get().(*[]byte)
	rb := respPool.Get().(*bytes.Buffer)
	defer func() {
		if cap(*bp) <= maxPooled {
			bodyPool.Put(bp)
		}
		if rb.Cap() <= maxPooled {
			respPool.Put(rb)
		}
	}()

	for attempt := 1; ; attempt++ {
		body := (*bp)[:0]
		for _, i := range pending {
			body = enc.appendItem(body, &items[i])
		}
		*bp = body
		p := &payload{data: body}
		res, err := c.roundTrip(ctx, r, p, rb)
		if !p.released() {
			// The transport may still read these bytes: leave them to it.
			nb := make([]byte, 0, cap(body))
			bp = &nb
		}
		for _, i := range pending {
			results[i].Attempts = attempt
		}

		status, retryAfter := 0, time.Duration(0)
		var parsed bulkResponse
		if err == nil {
			if res.status >= 200 && res.status < 300 {
				err = c.decode(r, res, &parsed)
				if err == nil && len(parsed.Items) != len(pending) {
					err = c.responseError(r, res, fmt.Errorf("%d item results for %d items", len(parsed.Items), len(pending)))
				}
			} else {
				err = c.httpError(r, res)
				status = res.status
				retryAfter = backoff.RetryAfter(res.header.Get("Retry-After"), time.Now())
			}
		}
		if err != nil {
			err = fmt.Errorf("bulk into %s: %w", index, err)
			if ctx.Err() != nil || attempt > c.retry.Retries || !Retryable(status, err) {
				return fail(err)
			}
			if err := c.backoff(ctx, attempt, retryAfter); err != nil {
				return fail(fmt.Errorf("bulk into %s: %w", index, err))
			}
			continue
		}

		next := pending[:0:0]
		for k, i := range pending {
			st := parsed.Items[k].status()
			out := &results[i]
			out.Status, out.Result = st.Status, st.Result
			switch {
			case st.Status >= 200 && st.Status < 300,
				items[i].Op == OpDelete && st.Status == http.StatusNotFound && st.Error == nil:
				out.OK = true
			case attempt <= c.retry.Retries && Retryable(st.Status, nil) && !requestFault(st.Error):
				next = append(next, i)
			case st.Error != nil:
				out.Error = st.Error.String()
			case st.Status == 0:
				out.Error = "the engine's answer has no status for this item"
			default:
				out.Error = fmt.Sprintf("HTTP %d", st.Status)
			}
		}
		if len(next) == 0 {
			return results, nil
		}
		pending = next
		c.retriedItems.Add(int64(len(pending)))
		if err := c.backoff(ctx, attempt, 0); err != nil {
			return fail(fmt.Errorf("bulk into %s: %w", index, err))
		}
	}
}

// backoff counts a retry and waits for it.
func (c *Client) backoff(ctx context.Context, attempt int, retryAfter time.Duration) error {
	c.retries.Add(1)
	return backoff.Sleep(ctx, c.retry.Wait(attempt, retryAfter))
}

// invalid says why an item cannot be sent, or "".
func (it *BulkItem) invalid() string {
	switch {
	case it.ID == "":
		return "invalid item: empty id"
	case it.Op != OpIndex && it.Op != OpDelete:
		return "invalid item: unknown operation " + it.Op.String()
	case it.Op == OpIndex && len(bytes.TrimSpace(it.Doc)) == 0:
		return "invalid item: empty document"
	}
	return ""
}

// bulkResponse is the part of a _bulk answer we read. Each item is an object
// with one key, the operation.
type bulkResponse struct {
	Errors bool               `json:"errors"`
	Items  []bulkResponseItem `json:"items"`
}

type bulkResponseItem struct {
	Index  *bulkItemStatus `json:"index"`
	Create *bulkItemStatus `json:"create"`
	Update *bulkItemStatus `json:"update"`
	Delete *bulkItemStatus `json:"delete"`
}

type bulkItemStatus struct {
	Status int          `json:"status"`
	Result string       `json:"result"`
	Error  *engineError `json:"error"`
}

func (it *bulkResponseItem) status() *bulkItemStatus {
	switch {
	case it.Index != nil:
		return it.Index
	case it.Delete != nil:
		return it.Delete
	case it.Create != nil:
		return it.Create
	case it.Update != nil:
		return it.Update
	}
	return &bulkItemStatus{}
}

// bulkEncoder writes NDJSON action and document lines. The constant part of
// each action line is built once per request.
type bulkEncoder struct {
	indexPrefix, deletePrefix []byte
}

// bulkEncoder: {"index":{"_index":"i","_id":"x"}}, with "_type":"_doc" on 6.x.
func (d *dialect) bulkEncoder(index string) bulkEncoder {
	meta := sunbird.AppendString([]byte(`{"_index":`), index)
	if d.docType != "" {
		meta = append(meta, `,"_type":`...)
		meta = sunbird.AppendString(meta, d.docType)
	}
	meta = append(meta, `,"_id":`...)
	return bulkEncoder{
		indexPrefix:  append([]byte(`{"index":`), meta...),
		deletePrefix: append([]byte(`{"delete":`), meta...),
	}
}

func (e *bulkEncoder) appendItem(dst []byte, it *BulkItem) []byte {
	if it.Op == OpDelete {
		dst = append(dst, e.deletePrefix...)
	} else {
		dst = append(dst, e.indexPrefix...)
	}
	dst = sunbird.AppendString(dst, it.ID)
	dst = append(dst, "}}\n"...)
	if it.Op == OpIndex {
		dst = appendDocLine(dst, it.Doc)
	}
	return dst
}

// appendDocLine appends doc as one line. In valid JSON a raw newline can only
// be whitespace between tokens (inside strings it is escaped), so replacing
// it with a space keeps the document and NDJSON framing intact: indented
// documents work too.
func appendDocLine(dst, doc []byte) []byte {
	doc = bytes.TrimSpace(doc)
	for {
		i := bytes.IndexByte(doc, '\n')
		if i < 0 {
			break
		}
		dst = append(dst, doc[:i]...)
		dst = append(dst, ' ')
		doc = doc[i+1:]
	}
	dst = append(dst, doc...)
	return append(dst, '\n')
}
