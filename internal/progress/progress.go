// Package progress shows how far a run is: a bar with count, rate and ETA
// when stderr is a terminal, and a log line every so often otherwise (a
// Kubernetes Job, a cron mail, a CI log).
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Reporter takes progress.
type Reporter interface {
	Add(n int64)
	Finish()
}

// Options configure a reporter.
type Options struct {
	Mode        string // auto, always, never
	Out         *os.File
	Total       int64  // 0: unknown
	Before      int64  // done before this process started (a resumed run): counted, not in the rate
	TotalSource string // where Total comes from, shown to the user
	Label       string
	Log         *slog.Logger
	Every       time.Duration // log line period; default 10 s
}

// New returns a bar or a logging reporter.
func New(o Options) Reporter {
	tty := o.Out != nil && term.IsTerminal(int(o.Out.Fd()))
	if o.Mode == "always" || (o.Mode == "auto" && tty) {
		return newBar(o)
	}
	return newLogger(o)
}

type bar struct{ b *progressbar.ProgressBar }

func newBar(o Options) *bar {
	total := o.Total
	if total <= 0 {
		total = -1 // spinner
	}
	desc := o.Label
	if o.TotalSource != "" {
		desc = fmt.Sprintf("%s (total %s)", o.Label, o.TotalSource)
	}
	var w io.Writer = os.Stderr
	if o.Out != nil {
		w = o.Out
	}
	b := &bar{b: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("docs"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
	b.Add(o.Before)
	return b
}

func (b *bar) Add(n int64) { _ = b.b.Add64(n) }
func (b *bar) Finish()     { _ = b.b.Finish() }

type logger struct {
	o     Options
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newLogger(o Options) *logger {
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	l := &logger{o: o, start: time.Now(), stop: make(chan struct{})}
	l.done.Store(o.Before)
	if o.Log == nil {
		return l
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(o.Every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.report()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

func (l *logger) report() {
	done := l.done.Load()
	el := time.Since(l.start).Seconds()
	rate := float64(done-l.o.Before) / max(el, 1e-9) // this process's pace
	args := []any{"done", done, "docsPerSecond", int64(rate)}
	if l.o.Total > 0 {
		args = append(args, "total", l.o.Total, "totalFrom", l.o.TotalSource,
			"percent", fmt.Sprintf("%.1f", 100*float64(done)/float64(l.o.Total)))
		if rate > 0 && done < l.o.Total {
			args = append(args, "eta", (time.Duration(float64(l.o.Total-done)/rate) * time.Second).Round(time.Second).String())
		}
	}
	l.o.Log.Info("progress: "+l.o.Label, args...)
}

func (l *logger) Add(n int64) { l.done.Add(n) }

func (l *logger) Finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}
