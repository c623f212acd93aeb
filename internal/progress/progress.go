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
	// Estimated: Total is an estimate. With Covered (the share of the work
	// done, 0 to 1, by position: of the token ring for a range scan), the
	// total is then re-estimated as done / covered once a twentieth is
	// covered, so a stale estimate (a table loaded since Cassandra last
	// computed it) does not make the percentage pass 100 or the ETA lie.
	Estimated bool
	Covered   func() float64
}

// refineAfter is the share covered before done / covered replaces an
// estimated total.
const refineAfter = 0.05

// total returns the total to show for done: o.Total, or the re-estimate
// from the share covered, never below done.
func (o *Options) total(done int64) (total int64, refined bool) {
	total = o.Total
	if o.Estimated && o.Covered != nil {
		if c := o.Covered(); c >= refineAfter && c <= 1 {
			total, refined = int64(float64(done)/c), true
		}
	}
	return max(total, done), refined
}

// New returns a bar or a logging reporter.
func New(o Options) Reporter {
	tty := o.Out != nil && term.IsTerminal(int(o.Out.Fd()))
	if o.Mode == "always" || (o.Mode == "auto" && tty) {
		return newBar(o)
	}
	return newLogger(o)
}

type bar struct {
	b          *progressbar.ProgressBar
	stop, done chan struct{} // of refine, when it runs
}

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
	if o.Estimated && o.Covered != nil && total > 0 {
		b.stop, b.done = make(chan struct{}), make(chan struct{})
		go b.refine(o)
	}
	return b
}

// refine re-estimates an estimated total every second.
func (b *bar) refine(o Options) {
	defer close(b.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if total, refined := o.total(int64(b.b.State().CurrentNum)); refined {
				b.b.ChangeMax64(total)
			}
		case <-b.stop:
			return
		}
	}
}

func (b *bar) Add(n int64) { _ = b.b.Add64(n) }

func (b *bar) Finish() {
	if b.stop != nil {
		close(b.stop)
		<-b.done
	}
	_ = b.b.Finish()
}

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
		total, refined := l.o.total(done)
		from := l.o.TotalSource
		if refined {
			from = fmt.Sprintf("%s (%d), scaled by the share of the ring synced", from, l.o.Total)
		}
		args = append(args, "total", total, "totalFrom", from,
			"percent", fmt.Sprintf("%.1f", 100*float64(done)/float64(total)))
		if rate > 0 && done < total {
			args = append(args, "eta", (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String())
		}
	}
	l.o.Log.Info("progress: "+l.o.Label, args...)
}

func (l *logger) Add(n int64) { l.done.Add(n) }

func (l *logger) Finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}
