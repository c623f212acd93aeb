package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// armStats sums up the runs of one arm at one size.
type armStats struct {
	Arm           string  `json:"arm"`
	Users         int     `json:"users"`
	Runs          int     `json:"runs"`
	DocsPerSecond float64 `json:"medianDocsPerSecond"`
	MaxRSSMiB     float64 `json:"peakRSSMiB"`            // the highest of its runs
	ServeRSSMiB   float64 `json:"serveRSSMiB,omitempty"` // T2, C: indexsync serve
	// CPU seconds per 1,000 documents (medians): the arm's own process
	// (indexsync run, or the bench child), serve, and the two servers.
	CPUPer1k map[string]float64 `json:"cpuSecondsPer1000Docs"`
	// CPUBusy: CPU seconds of all processes above / (wall seconds × cores).
	CPUBusy float64 `json:"cpuBusy"`
	// Others: CPU of other processes of the machine / (wall × cores), the
	// highest of the runs: load from others that skews the result.
	Others float64 `json:"othersBusy"`
	// CassandraThreads: Cassandra's CPU seconds per 1,000 documents by
	// group of threads (medians), for the arms that read it.
	CassandraThreads map[string]float64 `json:"cassandraThreadCPUPer1000Docs,omitempty"`
}

// target is one of the performance targets (bench/README.md), checked.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Want  string  `json:"want"`
	Pass  bool    `json:"pass"`
	Note  string  `json:"note,omitempty"`
}

type report struct {
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	Machine    map[string]any  `json:"machine"`
	Config     benchConfig     `json:"config"`
	Sizes      []int           `json:"sizes"`
	SeedSec    map[int]float64 `json:"seedSeconds"`
	Stats      []armStats      `json:"medians"`
	Targets    []target        `json:"targets"`
	Ratios     map[string]any  `json:"ratios"`
	DocChecks  []docCheck      `json:"documentChecks"`
	Runs       []benchRun      `json:"runs"`
	TotalSecs  float64         `json:"totalSeconds"`
	statsIndex map[string]*armStats
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func statKey(arm string, n int) string { return fmt.Sprintf("%s/%d", arm, n) }

func (b *bench) report() *report {
	rep := &report{
		Started: b.started, Finished: time.Now(), Config: b.cfg, Sizes: b.cfg.sizes(), SeedSec: b.seedSec,
		Runs: b.runs, DocChecks: b.checks, Ratios: map[string]any{}, statsIndex: map[string]*armStats{},
		Machine: map[string]any{"cores": runtime.NumCPU(), "os": runtime.GOOS, "arch": runtime.GOARCH, "go": runtime.Version(),
			"engine": b.engine, "cassandra": b.cassVer, "memGiB": memGiB()},
	}
	if b.cfg.Pin {
		rep.Machine["pinned"] = map[string]string{"searchEngine": b.pinned[0], "rest": b.pinned[1]}
	}
	rep.TotalSecs = rep.Finished.Sub(rep.Started).Seconds()
	for _, arm := range []string{"A", "B", "D", "T", "V", "TD", "TR", "T2", "TB", "C", "P"} {
		for _, n := range rep.Sizes {
			var dps []float64
			cpu := map[string][]float64{}
			thr := map[string][]float64{}
			var busy []float64
			s := armStats{Arm: arm, Users: n, CPUPer1k: map[string]float64{}}
			for _, r := range b.runs {
				if r.Arm != arm || r.Users != n || r.Error != "" {
					continue
				}
				s.Runs++
				dps = append(dps, r.DocsPerSecond)
				s.MaxRSSMiB = max(s.MaxRSSMiB, r.Process.MaxRSSMiB)
				if r.Docs == 0 {
					continue
				}
				k := float64(r.Docs) / 1000
				total := r.Process.CPUSeconds
				cpu["self"] = append(cpu["self"], r.Process.CPUSeconds/k)
				if r.Serve != nil {
					s.ServeRSSMiB = max(s.ServeRSSMiB, r.Serve.MaxRSSMiB)
					cpu["serve"] = append(cpu["serve"], r.Serve.CPUSeconds/k)
					total += r.Serve.CPUSeconds
				}
				for srv, v := range r.Process.ServerCPU {
					cpu[srv] = append(cpu[srv], v/k)
					total += v
				}
				for g, v := range r.Process.CassandraThreads {
					thr[g] = append(thr[g], v/k)
				}
				busy = append(busy, total/(r.Process.WallSeconds*float64(runtime.NumCPU())))
				s.Others = max(s.Others, r.OtherCPU/(r.Process.WallSeconds*float64(runtime.NumCPU())))
			}
			if s.Runs == 0 {
				continue
			}
			s.DocsPerSecond = median(dps)
			for k, v := range cpu {
				s.CPUPer1k[k] = median(v)
			}
			s.CPUBusy = median(busy)
			if c := s.CPUPer1k["cassandra"]; c >= 0.01 && len(thr) > 0 {
				s.CassandraThreads = map[string]float64{}
				for g, v := range thr {
					s.CassandraThreads[g] = median(v)
				}
			}
			rep.Stats = append(rep.Stats, s)
		}
	}
	for i := range rep.Stats {
		s := &rep.Stats[i]
		rep.statsIndex[statKey(s.Arm, s.Users)] = s
	}
	rep.targets()
	return rep
}

func memGiB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb float64
	_, _ = fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%f", &kb)
	return math.Round(kb/1024/1024*10) / 10
}

// dps returns the median docs/s of an arm at a size, NaN when it did not run.
func (rep *report) dps(arm string, n int) float64 {
	if s, ok := rep.statsIndex[statKey(arm, n)]; ok {
		return s.DocsPerSecond
	}
	return math.NaN()
}

func (rep *report) targets() {
	big := rep.Sizes[len(rep.Sizes)-1]
	for _, n := range rep.Sizes {
		a, bb, t, t2 := rep.dps("A", n), rep.dps("B", n), rep.dps("T", n), rep.dps("T2", n)
		ceiling := math.Min(a, bb)
		rep.Ratios[fmt.Sprintf("T/A@%d", n)] = jsonNum(t / a)
		rep.Ratios[fmt.Sprintf("T/B@%d", n)] = jsonNum(t / bb)
		rep.Ratios[fmt.Sprintf("T/min(A,B)@%d", n)] = jsonNum(t / ceiling)
		rep.Ratios[fmt.Sprintf("T2/T@%d", n)] = jsonNum(t2 / t)
		rep.Ratios[fmt.Sprintf("TB/T2@%d", n)] = jsonNum(rep.dps("TB", n) / t2)
		// On one machine T needs both A's and B's CPU for each document:
		// when A and B are CPU-bound, T can at best reach 1/(1/A + 1/B).
		rep.Ratios[fmt.Sprintf("T/shared@%d", n)] = jsonNum(t * (1/a + 1/bb))
		// a target whose arms were not asked for (BENCH_ARMS, BENCH_SCALE)
		// is left out; one whose arm failed is a MISS
		cfg := rep.Config
		if cfg.runs("A") && cfg.runs("B") && cfg.runs("T") {
			rep.Targets = append(rep.Targets,
				check(fmt.Sprintf("T/min(A,B), %s users (pinned figure)", thousands(n)), t/ceiling, 0.85),
				check(fmt.Sprintf("T/shared-core bound, %s users", thousands(n)), t*(1/a+1/bb), 0.9))
		}
		if cfg.runs("T2") && cfg.runs("T") {
			rep.Targets = append(rep.Targets, check(fmt.Sprintf("T2/T, %s users", thousands(n)), t2/t, 0.7))
		}
		if rep.Config.runs("V") {
			// wall time of verify against the sync's, same data: T's docs/s over V's
			v := rep.dps("V", n)
			rep.Ratios[fmt.Sprintf("V/T time@%d", n)] = jsonNum(t / v)
			rep.Targets = append(rep.Targets, atMost(fmt.Sprintf("verify time / sync time, %s users", thousands(n)), t/v, 0.5))
		}
		// CPU per document: T against the ceilings that do its two halves.
		if ts, as, bs := rep.statsIndex[statKey("T", n)], rep.statsIndex[statKey("A", n)], rep.statsIndex[statKey("B", n)]; ts != nil {
			rep.Targets = append(rep.Targets, atMost(fmt.Sprintf("indexsync's CPU-s per 1,000 documents in T, %s users", thousands(n)), ts.CPUPer1k["self"], 0.04))
			if as != nil {
				rep.Targets = append(rep.Targets, atMost(fmt.Sprintf("T/A engine CPU per document, %s users", thousands(n)), ts.CPUPer1k["search"]/as.CPUPer1k["search"], 1.05))
			}
			if bs != nil {
				rep.Targets = append(rep.Targets, atMost(fmt.Sprintf("T/B Cassandra CPU per document, %s users", thousands(n)), ts.CPUPer1k["cassandra"]/bs.CPUPer1k["cassandra"], 1.10))
				if td := rep.statsIndex[statKey("TD", n)]; td != nil {
					// T's reads alone, without the engine on the same cores
					rep.Targets = append(rep.Targets, atMost(fmt.Sprintf("TD/B Cassandra CPU per document, %s users", thousands(n)), td.CPUPer1k["cassandra"]/bs.CPUPer1k["cassandra"], 1.10))
				}
			}
			if tr := rep.statsIndex[statKey("TR", n)]; tr != nil {
				// the same reads at the same pace, without the engine: what T
				// costs Cassandra beyond what its pace costs
				rep.Targets = append(rep.Targets, atMost(fmt.Sprintf("T/TR Cassandra CPU per document, %s users", thousands(n)), ts.CPUPer1k["cassandra"]/tr.CPUPer1k["cassandra"], 1.10))
			}
		}
		if rep.Config.runs("P") { // a failed P is a MISS, not a missing line
			p := rep.dps("P", n)
			rep.Ratios[fmt.Sprintf("T/P@%d", n)] = jsonNum(t / p)
			rep.Targets = append(rep.Targets, check(fmt.Sprintf("T/P (Spark), %s users", thousands(n)), t/p, 3))
		}
	}
	c := math.NaN() // C runs once, on the first size
	for _, st := range rep.Stats {
		if st.Arm == "C" {
			c = st.DocsPerSecond
		}
	}
	t := rep.dps("T", big)
	if rep.Config.runs("C") {
		rep.Ratios["T/C"] = jsonNum(t / c)
		rep.Ratios["T2/C"] = jsonNum(rep.dps("T2", big) / c)
		rep.Targets = append(rep.Targets, check(fmt.Sprintf("T/C, %s users", thousands(big)), t/c, 500))
		old := check("C users/s (the old job: 10)", c, 10)
		rep.Targets = append(rep.Targets, old)
	}

	// Memory: every indexsync process, both sizes.
	peak := map[int]float64{}
	for _, s := range rep.Stats {
		if s.Arm == "T" || s.Arm == "T2" || s.Arm == "TB" || s.Arm == "C" {
			peak[s.Users] = max(peak[s.Users], s.MaxRSSMiB, s.ServeRSSMiB)
		}
	}
	worst := 0.0
	for _, v := range peak {
		worst = max(worst, v)
	}
	rep.Targets = append(rep.Targets, target{Name: "peak RSS of indexsync (run, serve), MiB", Value: worst, Want: "≤ 256", Pass: worst > 0 && worst <= 256})
	if len(rep.Sizes) == 2 {
		small := rep.Sizes[0]
		g := peak[big] / peak[small]
		rep.Ratios["peakRSS large/small"] = jsonNum(g)
		rep.Targets = append(rep.Targets, target{Name: fmt.Sprintf("peak RSS flat: %s vs %s users", thousands(big), thousands(small)), Value: g,
			Want: "≤ 1.25×", Pass: g <= 1.25, Note: fmt.Sprintf("%.0f vs %.0f MiB for %.0f× the users", peak[big], peak[small], float64(big)/float64(small))})
	}
}

// atMost is a target with a ceiling.
func atMost(name string, v, want float64) target {
	return target{Name: name, Value: jsonNum(v), Want: "≤ " + trimFloat(want), Pass: !math.IsNaN(v) && v > 0 && v <= want}
}

func check(name string, v, want float64) target {
	return target{Name: name, Value: jsonNum(v), Want: "≥ " + trimFloat(want), Pass: !math.IsNaN(v) && v >= want}
}

// jsonNum keeps NaN (an arm that did not run) out of the JSON as 0.
func jsonNum(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", v), "0"), ".0")
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	return strings.Join(append([]string{s}, out...), ",")
}

var armNames = map[string]string{
	"A":  "A  raw bulk load (indexing ceiling)",
	"B":  "B  token-range scan (read ceiling)",
	"D":  "D  source only: scan+join+build, no index",
	"T":  "T  indexsync run --target search",
	"V":  "V  indexsync verify of T's index",
	"TD": "TD T with --dry-run: reads+build, nothing sent",
	"TR": "TR TD at T's docs/s (--rate): T's pace",
	"T2": "T2 indexsync run --target api + serve",
	"TB": "TB the same, background mode (journal)",
	"C":  "C  old job: block 100, sleep 10s",
	"P":  "P  peer: Spark local mode + connectors",
}

func (rep *report) print(w io.Writer) {
	c := rep.Config
	var interleaved []string
	for _, arm := range roundArms {
		if c.runs(arm) {
			interleaved = append(interleaved, arm)
		}
	}
	rounds := "no arm"
	if len(interleaved) > 0 {
		rounds = strings.Join(interleaved, ", ")
	}
	fmt.Fprintf(w, "\nindexsync bench — %d cores, %s, Cassandra %s; medians of %d rounds (%s interleaved); %.0f s in all\n",
		runtime.NumCPU(), rep.Machine["engine"], rep.Machine["cassandra"], c.Rounds, rounds, rep.TotalSecs)
	fmt.Fprintf(w, "T and A: %d workers, %d docs/bulk, bulk cap %s; B and T: ranges %s; T2: %d workers, %d ids/call; user index %s shards, 0 replicas\n\n",
		c.Concurrency, c.BlockSize, byteSize(c.BulkBytes), rangesText(c.Ranges, c.Concurrency), c.T2Conc, c.T2Block, shardsText(c.Shards))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "arm\t"
	for _, n := range rep.Sizes {
		head += fmt.Sprintf("docs/s @%s\tRSS MiB\t", thousands(n))
	}
	fmt.Fprintln(tw, head+"CPU s/1k docs: self+serve / cass / search\tbusy\tothers\t")
	for _, arm := range []string{"A", "B", "T", "V", "TD", "TR", "T2", "TB", "C", "P", "D"} {
		line := armNames[arm] + "\t"
		any := false
		var last *armStats
		for _, n := range rep.Sizes {
			s, ok := rep.statsIndex[statKey(arm, n)]
			if !ok {
				line += "-\t-\t"
				continue
			}
			any, last = true, s
			rss := fmt.Sprintf("%.0f", s.MaxRSSMiB)
			if s.ServeRSSMiB > 0 {
				rss += fmt.Sprintf(" +%.0f", s.ServeRSSMiB)
			}
			line += fmt.Sprintf("%.0f\t%s\t", s.DocsPerSecond, rss)
			if arm == "C" {
				line = strings.Replace(line, fmt.Sprintf("%.0f\t", s.DocsPerSecond), fmt.Sprintf("%.1f\t", s.DocsPerSecond), 1)
			}
		}
		if !any {
			continue
		}
		cpu := fmt.Sprintf("%.2f+%.2f / %.2f / %.2f", last.CPUPer1k["self"], last.CPUPer1k["serve"], last.CPUPer1k["cassandra"], last.CPUPer1k["search"])
		fmt.Fprintf(tw, "%s%s\t%.0f%%\t%.0f%%\t\n", line, cpu, 100*last.CPUBusy, 100*last.Others)
	}
	tw.Flush()
	var short []string
	for _, st := range rep.Stats {
		if slices.Contains(roundArms, st.Arm) && st.Runs < c.Rounds {
			short = append(short, fmt.Sprintf("%s@%s: %d", st.Arm, thousands(st.Users), st.Runs))
		}
	}
	if len(short) > 0 {
		fmt.Fprintf(w, "Fewer runs than rounds (time budget or failures): %s.\n", strings.Join(short, ", "))
	}
	fmt.Fprintln(w, "RSS: the arm's own process (+ indexsync serve for T2, TB and C). CPU per 1,000 docs, busy and others: at the largest size;")
	fmt.Fprintln(w, "busy = CPU of the arm, serve and both servers / (wall × cores); others = the most CPU other processes took in one run.")
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tvalue\twant\t\t")
	for _, t := range rep.Targets {
		verdict := "MISS"
		if t.Pass {
			verdict = "PASS"
		}
		v := fmt.Sprintf("%.2f", t.Value)
		if t.Value >= 100 {
			v = fmt.Sprintf("%.0f", t.Value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, v, t.Want, verdict, t.Note)
	}
	tw.Flush()
	for _, n := range rep.Sizes {
		if v, ok := rep.Ratios[fmt.Sprintf("T/shared@%d", n)].(float64); ok && v > 0 && !c.Pin {
			a, bb := rep.dps("A", n), rep.dps("B", n)
			fmt.Fprintf(w, "shared cores, %s users: A and B together allow 1/(1/A + 1/B) = %.0f docs/s when each is CPU-bound; T reaches %.2f of that\n",
				thousands(n), 1/(1/a+1/bb), v)
		}
	}
	for _, n := range rep.Sizes {
		td, tr := rep.statsIndex[statKey("TD", n)], rep.statsIndex[statKey("TR", n)]
		if td != nil && tr != nil && td.CPUPer1k["cassandra"] > 0 {
			fmt.Fprintf(w, "pace, %s users: the same reads cost Cassandra %.3f CPU-s per 1,000 documents back to back (TD, %.0f docs/s) and %.3f at T's pace (TR, %.0f docs/s): ×%.2f for the pace alone\n",
				thousands(n), td.CPUPer1k["cassandra"], td.DocsPerSecond, tr.CPUPer1k["cassandra"], tr.DocsPerSecond, tr.CPUPer1k["cassandra"]/td.CPUPer1k["cassandra"])
		}
	}
	if pinned, ok := rep.Machine["pinned"].(map[string]string); ok {
		fmt.Fprintf(w, "BENCH_PIN: the search engine ran on CPUs %s, Cassandra, indexsync and the arms on CPUs %s (two machines in miniature)\n",
			pinned["searchEngine"], pinned["rest"])
	}
	rep.printCassandraThreads(w)
	rep.printPeer(w)
	for _, d := range rep.DocChecks {
		fmt.Fprintf(w, "documents, %s users: %d of %d sampled byte-identical between T's index and A's input\n", thousands(d.Users), d.Identical, d.Checked)
	}
}

func byteSize(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}

func rangesText(r, conc int) string {
	if r > 0 {
		return fmt.Sprint(r)
	}
	return fmt.Sprintf("%d (indexsync's default)", max(256, 32*conc))
}

func shardsText(s int) string {
	if s < 0 {
		return "5 (Sunbird's)"
	}
	return fmt.Sprint(s)
}

func (rep *report) write(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// printPeer compares T with the peer arm P at each size where both ran: the
// ratio of their docs/s and where each spends CPU per 1,000 documents.
func (rep *report) printPeer(w io.Writer) {
	for _, n := range rep.Sizes {
		t, okT := rep.statsIndex[statKey("T", n)]
		p, okP := rep.statsIndex[statKey("P", n)]
		if !okT || !okP {
			continue
		}
		cpu := func(s *armStats) string {
			return fmt.Sprintf("%.2f / %.2f / %.2f", s.CPUPer1k["self"], s.CPUPer1k["cassandra"], s.CPUPer1k["search"])
		}
		fmt.Fprintf(w, "peer, %s users: T/P = %.2f (T %.0f, P %.0f docs/s); CPU s/1k docs self / cass / search: T %s, P %s; peak RSS T %.0f, P %.0f MiB\n",
			thousands(n), t.DocsPerSecond/p.DocsPerSecond, t.DocsPerSecond, p.DocsPerSecond, cpu(t), cpu(p), t.MaxRSSMiB, p.MaxRSSMiB)
	}
}

// printCassandraThreads shows, at the largest size, where Cassandra's CPU
// per 1,000 documents went in each arm that reads it: by group of threads,
// the groups that took the most in any arm first.
func (rep *report) printCassandraThreads(w io.Writer) {
	if len(rep.Sizes) == 0 {
		return
	}
	n := rep.Sizes[len(rep.Sizes)-1]
	var arms []*armStats
	total := map[string]float64{}
	for _, arm := range []string{"B", "TD", "TR", "T", "V", "T2"} {
		if s, ok := rep.statsIndex[statKey(arm, n)]; ok && s.CassandraThreads != nil {
			arms = append(arms, s)
			for g, v := range s.CassandraThreads {
				total[g] = max(total[g], v)
			}
		}
	}
	if len(arms) < 2 {
		return
	}
	groups := slices.SortedFunc(maps.Keys(total), func(a, b string) int { return cmp.Compare(total[b], total[a]) })
	if len(groups) > 6 {
		groups = groups[:6]
	}
	fmt.Fprintf(w, "Cassandra's CPU s per 1,000 docs by thread, %s users (medians; Java thread names as the kernel cuts them):\n", thousands(n))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "arm\t"
	for _, g := range groups {
		head += g + "\t"
	}
	fmt.Fprintln(tw, head+"other, ended threads\tall\t")
	for _, s := range arms {
		line := s.Arm + "\t"
		rest := s.CPUPer1k["cassandra"]
		for _, g := range groups {
			line += fmt.Sprintf("%.3f\t", s.CassandraThreads[g])
			rest -= s.CassandraThreads[g]
		}
		fmt.Fprintf(tw, "%s%.3f\t%.3f\t\n", line, max(rest, 0), s.CPUPer1k["cassandra"])
	}
	tw.Flush()
}
