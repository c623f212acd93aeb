package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/source"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/syncjob"
)

// armResult is what a child arm prints on stdout (one JSON line): what it
// did and how long the measured part took (connecting is not measured, as
// indexsync's summary does not measure it either).
type armResult struct {
	Docs    int64   `json:"docs"`    // users read (B) or documents indexed (A)
	Rows    int64   `json:"rows"`    // rows read from all three tables (B)
	Bytes   int64   `json:"bytes"`   // document bytes sent (A)
	Failed  int64   `json:"failed"`  // documents the engine did not take (A)
	Seconds float64 `json:"seconds"` // the measured part
}

// childOptions are the flags of `bench -arm A|B|dump`.
type childOptions struct {
	Arm        string
	Docs       string // A: the documents file; dump: where to write it
	Index      string // A: the index to load
	SearchURL  string
	Hosts      string // Cassandra host
	Port       int
	Keyspace   string
	Workers    int
	Ranges     int
	Block      int
	BulkBytes  int64
	CPUProfile string
}

// userTables are the three tables a user document is joined from, each
// with its partition key column.
var userTables = []struct{ Name, Key string }{
	{"user", "id"}, {"user_organisation", "userid"}, {"user_roles", "userid"},
}

func connectCassandra(ctx context.Context, o childOptions) (*cassandra.Session, error) {
	return cassandra.Connect(ctx, cassandra.Config{
		Hosts:       []string{o.Hosts},
		Port:        o.Port,
		Username:    os.Getenv("INDEXSYNC_CASSANDRA_USERNAME"),
		Password:    secret.New(os.Getenv("INDEXSYNC_CASSANDRA_PASSWORD")),
		Keyspace:    o.Keyspace,
		Consistency: "LOCAL_ONE",
		Timeout:     30 * time.Second,
	})
}

// scanRanges cuts the ring as `indexsync run` does: at the cluster's token
// boundaries, then evenly into max(256, 32 × workers) ranges unless told.
func scanRanges(ctx context.Context, sess *cassandra.Session, workers, ranges int) []cassandra.Range {
	ring, _ := sess.RingTokens(ctx) // as indexsync: an even split when unknown
	if ranges <= 0 {
		ranges = max(256, 32*workers)
	}
	return cassandra.Split(cassandra.Shard(0, 1), ring, ranges)
}

// armScan is arm B, the read ceiling: the token ranges of indexsync run,
// each read by `workers` workers from the three user tables at once (as the
// document source does), every column decoded into reused Go values, and
// nothing built from them.
func armScan(ctx context.Context, o childOptions) (armResult, error) {
	sess, err := connectCassandra(ctx, o)
	if err != nil {
		return armResult{}, err
	}
	defer sess.Close()
	stmts := make([]string, len(userTables))
	for i, t := range userTables {
		cols, err := sess.Columns(ctx, o.Keyspace, t.Name)
		if err != nil {
			return armResult{}, err
		}
		stmts[i] = fmt.Sprintf(`SELECT token(%s), %s FROM %s.%s WHERE token(%s) > ? AND token(%s) <= ?`,
			t.Key, cassandra.SelectList(cols), o.Keyspace, t.Name, t.Key, t.Key)
	}
	ranges := scanRanges(ctx, sess, o.Workers, o.Ranges)

	var users, rows atomic.Int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, r := range ranges {
		g.Go(func() error {
			tg, tctx := errgroup.WithContext(gctx)
			for i, stmt := range stmts {
				tg.Go(func() error {
					n, err := scanAll(tctx, sess, stmt, r)
					if err != nil {
						return fmt.Errorf("scan %s.%s range %s: %w", o.Keyspace, userTables[i].Name, r, err)
					}
					rows.Add(n)
					if i == 0 {
						users.Add(n)
					}
					return nil
				})
			}
			return tg.Wait()
		})
	}
	err = g.Wait()
	return armResult{Docs: users.Load(), Rows: rows.Load(), Seconds: time.Since(start).Seconds()}, err
}

// scanAll reads every row of stmt over r, decoding every column, and
// returns how many rows it read. Page size as cassandra.Scanner's default.
func scanAll(ctx context.Context, sess *cassandra.Session, stmt string, r cassandra.Range) (int64, error) {
	iter := sess.Query(stmt, r.Start, r.End).PageSize(5000).Idempotent(true).IterContext(ctx)
	rd, err := iter.RowData()
	if err != nil {
		_ = iter.Close()
		return 0, err
	}
	var n int64
	sc := iter.Scanner()
	for sc.Next() {
		if err := sc.Scan(rd.Values...); err != nil {
			_ = iter.Close()
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		_ = iter.Close()
		return n, err
	}
	return n, iter.Close()
}

// armBulk is arm A, the indexing ceiling: the prebuilt documents, read from
// a file, cut into blocks of the same size and byte cap as indexsync's, and
// sent with the same bulk client by the same number of workers.
func armBulk(ctx context.Context, o childOptions) (armResult, error) {
	client, err := search.NewClient(search.Config{URLs: []string{o.SearchURL}, Retries: 5, Timeout: time.Minute, UserAgent: "indexsync-bench"})
	if err != nil {
		return armResult{}, err
	}
	if _, err := client.Info(ctx); err != nil {
		return armResult{}, err
	}
	f, err := os.Open(o.Docs)
	if err != nil {
		return armResult{}, err
	}
	defer func() { _ = f.Close() }() // read only

	var res armResult
	var mu sync.Mutex
	blocks := make(chan []search.BulkItem, o.Workers)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	g.Go(func() error {
		defer close(blocks)
		return readDocs(gctx, f, o.Block, int(o.BulkBytes), blocks)
	})
	for range o.Workers {
		g.Go(func() error {
			for items := range blocks {
				results, err := client.Bulk(gctx, o.Index, items)
				var ok, failed, size int64
				for i, r := range results {
					if r.OK {
						ok++
						size += int64(len(items[i].Doc))
					} else {
						failed++
					}
				}
				mu.Lock()
				res.Docs += ok
				res.Failed += failed
				res.Bytes += size
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	err = g.Wait()
	res.Seconds = time.Since(start).Seconds()
	return res, err
}

// readDocs cuts the documents file into blocks as syncjob does: a block is
// sent when it holds block documents or the next would pass bulkBytes.
func readDocs(ctx context.Context, r io.Reader, block, bulkBytes int, out chan<- []search.BulkItem) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var cur []search.BulkItem
	size := 0
	send := func() error {
		if len(cur) == 0 {
			return nil
		}
		select {
		case out <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur, size = nil, 0
		return nil
	}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// a document over the buffer: read the rest of the line
			var full []byte
			full = append(full, line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if len(line) > 0 {
			id, doc, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte("\t"))
			if !ok {
				return fmt.Errorf("documents file, line %d: no tab between id and document", lineNo)
			}
			if len(cur) > 0 && (len(cur) >= block || size+len(doc) > bulkBytes) {
				if err := send(); err != nil {
					return err
				}
			}
			cur = append(cur, search.BulkItem{ID: string(id), Op: search.OpIndex, Doc: bytes.Clone(doc)})
			size += len(doc)
		}
		if errors.Is(err, io.EOF) {
			return send()
		}
		if err != nil {
			return fmt.Errorf("read the documents file: %w", err)
		}
	}
}

// dumpDocs writes the document of every user of the keyspace, one
// "id<TAB>document" line each, built by the same source indexsync run
// --target search uses (so the bytes are the ones it writes). Not measured.
func dumpDocs(ctx context.Context, o childOptions) (armResult, error) {
	sess, err := connectCassandra(ctx, o)
	if err != nil {
		return armResult{}, err
	}
	defer sess.Close()
	names, _, err := source.OrgNames(ctx, sess, o.Keyspace, o.Workers)
	if err != nil {
		return armResult{}, err
	}
	src, err := source.NewDocs(ctx, sess, o.Keyspace, sunbird.UserKind, sunbird.Lookups{OrgNames: names})
	if err != nil {
		return armResult{}, err
	}

	tmp := o.Docs + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return armResult{}, err
	}
	defer func() { _ = os.Remove(tmp) }()
	w := bufio.NewWriterSize(f, 1<<20)
	var mu sync.Mutex
	var res armResult
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, u := range source.RangeUnits(scanRanges(ctx, sess, o.Workers, o.Ranges)) {
		g.Go(func() error {
			var buf []byte
			var n int64
			err := src.Items(gctx, u, u.Start, func(it syncjob.Item) error {
				if bytes.ContainsAny(it.Doc, "\n") || strings.ContainsAny(it.ID, "\t\n") {
					return fmt.Errorf("document %s: a tab or newline would break the documents file", it.ID)
				}
				buf = append(buf, it.ID...)
				buf = append(buf, '\t')
				buf = append(buf, it.Doc...)
				buf = append(buf, '\n')
				n++
				return nil
			})
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			res.Docs += n
			res.Bytes += int64(len(buf))
			_, err = w.Write(buf)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		_ = f.Close()
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	return res, os.Rename(tmp, o.Docs)
}

// runChild runs one child arm and prints its result as JSON on stdout.
func runChild(ctx context.Context, o childOptions) error {
	var (
		res armResult
		err error
	)
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	switch o.Arm {
	case "A":
		res, err = armBulk(ctx, o)
	case "B":
		res, err = armScan(ctx, o)
	case "dump":
		res, err = dumpDocs(ctx, o)
	default:
		err = fmt.Errorf("-arm %q: use A, B or dump", o.Arm)
	}
	stopProfile()
	if err != nil {
		return fmt.Errorf("arm %s: %w", o.Arm, err)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
