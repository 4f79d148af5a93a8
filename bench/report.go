package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// report prints every run, then per mode and workload the medians, their
// ratio and the targets, then the targets' memory.
func report(w io.Writer, runs []run, idle []idleMemory, machine string, connections int) {
	fmt.Fprintf(w, "\n%s\n\n", machine)
	var modes []mode
	for _, r := range runs {
		if !slices.Contains(modes, r.mode) {
			modes = append(modes, r.mode)
		}
	}
	for _, m := range modes {
		fmt.Fprintf(w, "- **%s**: %s\n", m, m.describe())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| mode | workload | round | target | req/s | p50 | p90 | p99 | errors | checked | sampled | peak RSS | CPU/req: target | PostgreSQL | wrk | target's waits/req |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		waits := "n/a"
		if r.wrk.Requests > 0 {
			waits = fmt.Sprintf("%.2f", float64(r.waits)/float64(r.wrk.Requests))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %.0f | %s | %s | %s | %d | %d | %d | %.0f MB | %s | %s | %s | %s |\n",
			r.mode, r.workload, r.round, r.target, r.rps(), us(r.wrk.P50US), us(r.wrk.P90US), us(r.wrk.P99US), r.errors(), r.wrk.Checked, r.sampled, r.rss,
			micro(r.perRequest(r.cpuTarget)), micro(r.perRequest(r.cpuPostgres)), micro(r.perRequest(r.cpuWrk)), waits)
	}

	fmt.Fprintf(w, "\nMedians of the rounds, %d connections:\n\n", connections)
	fmt.Fprintln(w, "| mode | workload | server req/s | ceiling req/s | ratio of medians (per round) | CPU/req server / ceiling | p50 server | p50 ceiling | p90 server | p90 ceiling | p99 server | p99 ceiling | p99 ratio | server peak RSS | target |")
	fmt.Fprintln(w, "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, m := range modes {
		for _, wl := range []string{"list", "create"} {
			var srv, ceil []run
			for _, r := range runs {
				switch {
				case r.workload != wl || r.mode != m:
				case r.target == "server":
					srv = append(srv, r)
				default:
					ceil = append(ceil, r)
				}
			}
			if len(srv) == 0 || len(ceil) == 0 {
				continue
			}
			var perRound []string
			for i := range min(len(srv), len(ceil)) {
				perRound = append(perRound, fmt.Sprintf("%.2f", srv[i].rps()/ceil[i].rps()))
			}
			sRPS, cRPS := median(srv, run.rps), median(ceil, run.rps)
			p50 := func(r run) float64 { return float64(r.wrk.P50US) }
			p90 := func(r run) float64 { return float64(r.wrk.P90US) }
			p99 := func(r run) float64 { return float64(r.wrk.P99US) }
			sP99, cP99 := median(srv, p99), median(ceil, p99)
			rss := 0.0
			for _, r := range srv {
				rss = max(rss, r.rss)
			}
			// The target's own CPU a request: steadier than req/s on a
			// shared machine, and what the ratio comes down to on one CPU.
			cpu := func(r run) float64 { return float64(r.perRequest(r.cpuTarget)) }
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | **%.2f** (%s) | %s / %s | %s | %s | %s | %s | %s | %s | %.2f | %.0f MB | %s |\n",
				m, wl, sRPS, cRPS, sRPS/cRPS, strings.Join(perRound, ", "),
				micro(time.Duration(median(srv, cpu))), micro(time.Duration(median(ceil, cpu))),
				us(int64(median(srv, p50))), us(int64(median(ceil, p50))),
				us(int64(median(srv, p90))), us(int64(median(ceil, p90))),
				us(int64(sP99)), us(int64(cP99)), sP99/cP99, rss,
				verdict(m, wl, sRPS/cRPS, sP99/cP99, rss))
		}
	}

	fmt.Fprintln(w, "\nResident memory (/proc/PID/status): idle is after start (the server's migrations done) and before any request; "+
		"VmHWM then is the start-up peak; the peak under load is VmHWM over each run (reset before it), the most over the workload's runs, warm-ups excluded:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| mode | target | idle VmRSS | VmHWM at idle | peak under load: list | peak under load: create |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	for _, im := range idle {
		peak := map[string]float64{}
		for _, r := range runs {
			if r.mode == im.mode && r.target == im.target {
				peak[r.workload] = max(peak[r.workload], r.rss)
			}
		}
		mb := func(wl string) string {
			if v, ok := peak[wl]; ok {
				return fmt.Sprintf("%.1f MB", v)
			}
			return "–"
		}
		fmt.Fprintf(w, "| %s | %s | %.1f MB | %.1f MB | %s | %s |\n", im.mode, im.target, im.mem.rss, im.mem.hwm, mb("list"), mb("create"))
	}
}

// verdict compares against the performance issues' targets: a page at
// 0.60 of the ceiling with two CPUs and 0.70 with one (issue 12), its p99
// within 2×, a create at 0.70, under 100 MB.
func verdict(m mode, workload string, ratio, p99Ratio, rss float64) string {
	listGoal := 0.6
	if m.cpus == 1 {
		listGoal = 0.7
	}
	var miss []string
	switch workload {
	case "list":
		if ratio < listGoal {
			miss = append(miss, fmt.Sprintf("req/s < %.0f%% of ceiling", 100*listGoal))
		}
		if p99Ratio > 2 {
			miss = append(miss, "p99 > 2× ceiling")
		}
	case "create":
		if ratio < 0.7 {
			miss = append(miss, "req/s < 70% of ceiling")
		}
	}
	if rss >= 100 {
		miss = append(miss, "RSS ≥ 100 MB")
	}
	if len(miss) == 0 {
		if workload == "list" {
			return fmt.Sprintf("met (≥ %.0f%%; p99 ≤ 2×; < 100 MB)", 100*listGoal)
		}
		return "met (≥ 70%; < 100 MB)"
	}
	return "MISSED: " + strings.Join(miss, "; ")
}

func median(runs []run, f func(run) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else if n > 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return 0
}

// micro prints a per-request CPU time in whole microseconds.
func micro(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}

func us(v int64) string {
	return (time.Duration(v) * time.Microsecond).Round(10 * time.Microsecond).String()
}

// machine describes where the figures come from.
func machine(ctx context.Context, dbURL string) string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
		f.Close()
	}
	pg := "PostgreSQL ?"
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		_ = conn.QueryRow(ctx, "SELECT split_part(version(), ' ', 1) || ' ' || split_part(version(), ' ', 2)").Scan(&pg)
		conn.Close(ctx)
	}
	wrk := "wrk"
	out, _ := exec.Command("wrk", "--version").CombinedOutput() // exits 1 after printing
	if f := strings.Fields(string(out)); len(f) >= 2 {
		wrk = f[0] + " " + f[1]
	}
	return fmt.Sprintf("%s, %d cores; %s; %s; %s; server, ceiling, PostgreSQL and wrk on the same machine; %s",
		cpu, runtime.NumCPU(), runtime.Version(), pg, wrk, time.Now().UTC().Format("2006-01-02"))
}

// reportScaling prints a table per mode and dimension: each operation's
// median req/s, p50 and p99 over the rounds, at each size.
func reportScaling(w io.Writer, results []scalingResult, machine string, cfg config) {
	fmt.Fprintf(w, "\n%s\n\n", machine)
	fmt.Fprintf(w, "The server alone, %d connections, %d wrk threads, every request as one user; medians of %d run(s) of %s per operation and size, after a %s warm-up. "+
		"Every response of the pages and totalCount is byte for byte the one checked against the database; createTask runs last at each size, its tasks deleted after.\n",
		cfg.connections, cfg.threads, cfg.rounds, cfg.duration, cfg.warmup)
	var modes []mode
	for _, r := range results {
		if !slices.Contains(modes, r.mode) {
			modes = append(modes, r.mode)
		}
	}
	titles := map[string]string{
		"user":  fmt.Sprintf("One user's tasks grow; the table holds %s tasks of other users besides", thousands(scalingBackground-scalingUserMin)),
		"table": fmt.Sprintf("The table grows, %d tasks per user; the measured user keeps %d", scalingPerUser, scalingUserMin),
	}
	for _, m := range modes {
		for _, dim := range []string{"user", "table"} {
			type key struct{ user, rows int }
			var sizes []key
			byOp := map[key]map[string]scalingResult{}
			var idle memory
			for _, r := range results {
				if r.mode != m || r.dimension != dim {
					continue
				}
				idle = r.idle
				k := key{r.userTasks, r.tableRows}
				if byOp[k] == nil {
					sizes = append(sizes, k)
					byOp[k] = map[string]scalingResult{}
				}
				byOp[k][r.op] = r
			}
			if len(sizes) == 0 {
				continue
			}
			fmt.Fprintf(w, "\n%s (**%s**: %s). Server idle after start: VmRSS %.1f MB, VmHWM %.1f MB.\n\n", titles[dim], m, m.describe(), idle.rss, idle.hwm)
			head, rule := "| user's tasks | table rows |", "|---:|---:|"
			for _, op := range scalingOps {
				head += fmt.Sprintf(" %s req/s | p50 | p99 |", scalingOpName[op])
				rule += "---:|---:|---:|"
			}
			fmt.Fprintln(w, head+" errors | server peak RSS | deep page from |")
			fmt.Fprintln(w, rule+"---:|---:|---:|")
			for _, k := range sizes {
				line := fmt.Sprintf("| %s | %s |", thousands(k.user), thousands(k.rows))
				var errs int64
				peak := 0.0
				deep := "–"
				for _, op := range scalingOps {
					r, ok := byOp[k][op]
					if !ok {
						line += " – | – | – |"
						continue
					}
					p50 := func(r run) float64 { return float64(r.wrk.P50US) }
					p99 := func(r run) float64 { return float64(r.wrk.P99US) }
					line += fmt.Sprintf(" %.0f | %s | %s |", median(r.runs, run.rps), us(int64(median(r.runs, p50))), us(int64(median(r.runs, p99))))
					for _, x := range r.runs {
						errs += x.errors()
						peak = max(peak, x.rss)
					}
					if op == "deep" {
						deep = fmt.Sprintf("#%s", thousands(r.deepOffset+1))
					}
				}
				fmt.Fprintf(w, "%s %d | %.0f MB | %s |\n", line, errs, peak, deep)
			}
		}
	}
}

// thousands writes n with commas: 1,000,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
