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

// report prints every run, then per workload the medians, their ratio and
// the targets.
func report(w io.Writer, runs []run, machine string, connections int) {
	fmt.Fprintf(w, "\n%s\n\n", machine)
	fmt.Fprintln(w, "| workload | round | target | req/s | p50 | p99 | errors | checked | sampled | max RSS | CPU/req: target | PostgreSQL | wrk |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s | %s | %d | %d | %d | %.0f MB | %s | %s | %s |\n",
			r.workload, r.round, r.target, r.rps(), us(r.wrk.P50US), us(r.wrk.P99US), r.errors(), r.wrk.Checked, r.sampled, r.rss,
			micro(r.perRequest(r.cpuTarget)), micro(r.perRequest(r.cpuPostgres)), micro(r.perRequest(r.cpuWrk)))
	}

	fmt.Fprintf(w, "\nMedians of the rounds, %d connections:\n\n", connections)
	fmt.Fprintln(w, "| workload | server req/s | ceiling req/s | ratio of medians (per round) | server p99 | ceiling p99 | p99 ratio | server max RSS | target |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|---|")
	for _, wl := range []string{"list", "create"} {
		var srv, ceil []run
		for _, r := range runs {
			switch {
			case r.workload != wl:
			case r.target == "server":
				srv = append(srv, r)
			default:
				ceil = append(ceil, r)
			}
		}
		if len(srv) == 0 {
			continue
		}
		var perRound []string
		for i := range min(len(srv), len(ceil)) {
			perRound = append(perRound, fmt.Sprintf("%.2f", srv[i].rps()/ceil[i].rps()))
		}
		sRPS, cRPS := median(srv, run.rps), median(ceil, run.rps)
		p99 := func(r run) float64 { return float64(r.wrk.P99US) }
		sP99, cP99 := median(srv, p99), median(ceil, p99)
		rss := 0.0
		for _, r := range srv {
			rss = max(rss, r.rss)
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | **%.2f** (%s) | %s | %s | %.2f | %.0f MB | %s |\n",
			wl, sRPS, cRPS, sRPS/cRPS, strings.Join(perRound, ", "), us(int64(sP99)), us(int64(cP99)), sP99/cP99, rss,
			verdict(wl, sRPS/cRPS, sP99/cP99, rss))
	}
}

// verdict compares against the performance issue's targets.
func verdict(workload string, ratio, p99Ratio, rss float64) string {
	var miss []string
	switch workload {
	case "list":
		if ratio < 0.6 {
			miss = append(miss, "req/s < 60% of ceiling")
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
			return "met (≥ 60%, aim 80%; p99 ≤ 2×; < 100 MB)"
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
