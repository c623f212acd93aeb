// Package target provides the sync job's targets: the Sync API (ours or
// Sunbird's), the search engine directly, and a dry run that builds what it
// would send and sends nothing.
package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/indexsync/indexsync/internal/outcome"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/syncapi"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// API posts blocks of ids to a Sync API.
type API struct {
	Client     *syncapi.Client
	ObjectType string
	RunMS      int64 // the run's id, part of each X-Request-ID

	calls atomic.Int64
}

// Send implements syncjob.Target.
func (a *API) Send(ctx context.Context, block []syncjob.Item) (syncjob.Outcome, error) {
	ids := make([]string, len(block))
	for i, it := range block {
		ids[i] = it.ID
	}
	reqID := fmt.Sprintf("indexsync-%d-%d", a.RunMS, a.calls.Add(1))
	res, err := a.Client.Sync(ctx, a.ObjectType, ids, reqID)
	out := syncjob.Outcome{}
	if res != nil {
		out.Request, out.Response = res.Request, res.Response
		out.Retries = res.Retries
		out.PushBack = res.Throttled
		out.Success = res.OK
	}
	if err != nil && len(out.Response) == 0 {
		out.Response = []byte(err.Error()) // the failure log says why
	}
	if errors.Is(err, syncapi.ErrUnauthorized) {
		return out, &syncjob.StopError{Err: outcome.As(outcome.Unreachable, err)}
	}
	if err != nil {
		if errors.Is(err, syncapi.ErrUnreachable) {
			return out, fmt.Errorf("%w: %w", syncjob.ErrTransient, outcome.As(outcome.Unreachable, err))
		}
		if errors.Is(err, syncapi.ErrRetriesExhausted) {
			return out, fmt.Errorf("%w: %w", syncjob.ErrTransient, err)
		}
		return out, err
	}
	for id, ok := range res.PerID {
		if !ok {
			if out.Failed == nil {
				out.Failed = map[string]string{}
			}
			out.Failed[id] = "the Sync API answered false"
		}
	}
	return out, nil
}

// Search writes blocks of documents to the search engine in one bulk request.
type Search struct {
	Client *search.Client
	Index  string // index or alias
}

// bulkRecord is what the run log shows of a bulk request: the old format
// wants a request and a response, and the bulk body itself is too big.
type bulkRecord struct {
	Index string   `json:"index"`
	Docs  int      `json:"docs"`
	Bytes int      `json:"bytes"`
	IDs   []string `json:"ids"`
}

type bulkReply struct {
	Indexed int               `json:"indexed"`
	Failed  map[string]string `json:"failed,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// Send implements syncjob.Target.
func (s *Search) Send(ctx context.Context, block []syncjob.Item) (syncjob.Outcome, error) {
	items := make([]search.BulkItem, len(block))
	rec := bulkRecord{Index: s.Index, Docs: len(block), IDs: make([]string, len(block))}
	for i, it := range block {
		items[i] = search.BulkItem{ID: it.ID, Op: search.OpIndex, Doc: it.Doc}
		rec.IDs[i] = it.ID
		rec.Bytes += len(it.Doc)
	}
	results, err := s.Client.Bulk(ctx, s.Index, items)
	out := syncjob.Outcome{}
	reply := bulkReply{}
	overloaded := 0
	for _, r := range results {
		if r.Attempts > 1 {
			out.Retries += r.Attempts - 1
		}
		if r.Status == 429 {
			out.PushBack++
		}
		if !r.OK {
			if out.Failed == nil {
				out.Failed = map[string]string{}
			}
			reason := r.Error
			if reason == "" {
				reason = "status " + strconv.Itoa(r.Status)
			}
			out.Failed[r.ID] = reason
			if search.Retryable(r.Status, nil) {
				overloaded++
			}
		} else {
			reply.Indexed++
		}
	}
	reply.Failed = out.Failed
	if err != nil {
		reply.Error = err.Error()
	}
	out.Request, _ = json.Marshal(rec)
	out.Response, _ = json.Marshal(reply)
	out.Success = err == nil && len(out.Failed) == 0
	switch {
	case errors.Is(err, search.ErrUnauthorized):
		return out, &syncjob.StopError{Err: outcome.As(outcome.Unreachable, err)}
	case errors.Is(err, search.ErrUnreachable):
		return out, fmt.Errorf("%w: %w", syncjob.ErrTransient, outcome.As(outcome.Unreachable, err))
	case err != nil && search.Retryable(0, err):
		return out, fmt.Errorf("%w: %w", syncjob.ErrTransient, err)
	case err == nil && overloaded > 0:
		// items still refused (429/5xx) after the client's own retries:
		// send the whole block again later (index operations are idempotent)
		return out, fmt.Errorf("%w: %d documents still rejected by an overloaded engine", syncjob.ErrTransient, overloaded)
	}
	return out, err
}

// Dry builds what a real target would send and sends nothing.
type Dry struct {
	// Body builds the request body of a block (for the API target); nil
	// for documents, which are already built by the source.
	Body func(ids []string) ([]byte, error)

	Bytes atomic.Int64 // bytes that would have been sent
}

// Send implements syncjob.Target.
func (d *Dry) Send(_ context.Context, block []syncjob.Item) (syncjob.Outcome, error) {
	var n int
	if d.Body != nil {
		ids := make([]string, len(block))
		for i, it := range block {
			ids[i] = it.ID
		}
		b, err := d.Body(ids)
		if err != nil {
			return syncjob.Outcome{}, err
		}
		n = len(b)
	} else {
		for _, it := range block {
			n += len(it.Doc)
		}
	}
	d.Bytes.Add(int64(n))
	return syncjob.Outcome{Success: true}, nil
}
