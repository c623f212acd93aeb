package verify

import (
	"context"
	"os"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexsync/indexsync/internal/search"
)

func TestZZIndexReads(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	ctx := context.Background()
	c, _ := search.NewClient(search.Config{URLs: []string{"http://127.0.0.1:9200"}})
	var ids []string
	start := time.Now()
	err := c.ScanIDs(ctx, "bench_verify_user", search.ScanOptions{PageSize: 5000}, func(p search.ScanPage) error {
		ids = append(ids, p.IDs...)
		return nil
	})
	t.Logf("scroll: %d ids in %s (err %v)", len(ids), time.Since(start), err)
	for _, conc := range []int{4, 8} {
		for _, bs := range []int{500, 1000} {
			start = time.Now()
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(conc)
			for lo := 0; lo < len(ids); lo += bs {
				chunk := ids[lo:min(lo+bs, len(ids))]
				g.Go(func() error { _, err := c.MGet(gctx, "bench_verify_user", chunk); return err })
			}
			err = g.Wait()
			t.Logf("mget conc %d batch %d: %s (err %v)", conc, bs, time.Since(start), err)
		}
	}
}
