package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// target is one process under load: the server or the ceiling.
type target struct {
	name string
	url  string // the /query endpoint
	cmd  *exec.Cmd
	log  *os.File
}

// start runs bin with env on a free port, as the mode says (pinned, with
// GOMAXPROCS), and waits until /readyz answers.
func start(ctx context.Context, m mode, name, bin, logPath string, env []string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := m.targetCommand(bin)
	// Only the benchmark's settings: a developer's own JWT_ISSUER or OTEL_*
	// must not reach one target and not the other.
	cmd.Env = append(append(slices.Clone(env), m.targetEnv()...), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	t := &target{name: name, url: fmt.Sprintf("http://127.0.0.1:%d/query", port), cmd: cmd, log: logFile}
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t, nil
			}
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.stop()
	return nil, fmt.Errorf("%s did not become ready; see %s", name, logPath)
}

func (t *target) stop() {
	_ = t.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
	t.log.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// memory is a process's resident set from /proc/PID/status, in MB (10^6
// bytes, as the target is stated): VmRSS now, and VmHWM, the most it has
// had since it started or since resetPeak.
type memory struct{ rss, hwm float64 }

func memStatus(pid int) memory {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		switch name {
		case "VmRSS":
			m.rss = kb * 1024 / 1e6
		case "VmHWM":
			m.hwm = kb * 1024 / 1e6
		}
	}
	return m
}

func rssMB(pid int) float64 { return memStatus(pid).rss }

// resetPeak sets a process's VmHWM back to its VmRSS (Linux ≥ 4.0; the
// process's owner or root), so that VmHWM after a run is that run's peak.
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// clockTick is the unit of /proc/*/stat CPU times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// cpuTime is the user plus system CPU a process has used, from /proc,
// with that of its children that have exited (PostgreSQL's backends).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, field := range f[11:15] { // utime stime cutime cstime
		n, _ := strconv.ParseInt(field, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// switches counts the times a process's threads gave up the CPU to wait
// (voluntary context switches, summed over /proc/PID/task/*/status): a
// target that keeps up with its load waits once per batch of requests, one
// that falls idle between them once per request or more.
func switches(pid int) int64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// postgresCPU sums the CPU of every postgres process on this machine: the
// targets' backends and PostgreSQL's own workers. It is -1 when there is no
// local PostgreSQL to read (a remote -db, or no /proc).
func postgresCPU() time.Duration {
	total, found := time.Duration(0), false
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			total += cpuTime(pid)
			found = true
		}
	}
	if !found {
		return -1
	}
	return total
}

// wrkResult is the line bench/wrk.lua prints when a run is done.
type wrkResult struct {
	Requests     int64  `json:"requests"`
	DurationUS   int64  `json:"duration_us"`
	P50US        int64  `json:"p50_us"`
	P90US        int64  `json:"p90_us"`
	P99US        int64  `json:"p99_us"`
	MaxUS        int64  `json:"max_us"`
	SocketErrors int64  `json:"socket_errors"`
	StatusErrors int64  `json:"status_errors"`
	Checked      int64  `json:"checked"`
	Bad          int64  `json:"bad"`
	Sample       string `json:"sample"`
}

// run is one measured (or warm-up) load run against one target.
type run struct {
	workload, target string
	round            int
	wrk              wrkResult
	mode             mode
	sampled, wrong   int     // requests the sampler checked exactly, and how many failed
	wrongSample      string  // the first failure
	rss              float64 // the target's peak resident set during the run, MB (VmHWM, else sampled VmRSS)
	// CPU used during the run by the target, by PostgreSQL and by wrk.
	cpuTarget, cpuPostgres, cpuWrk time.Duration
	waits                          int64 // the target's voluntary context switches during the run
}

// perRequest is a CPU time divided among the run's requests; negative when
// it could not be measured.
func (r run) perRequest(d time.Duration) time.Duration {
	if r.wrk.Requests == 0 || d < 0 {
		return -1
	}
	return d / time.Duration(r.wrk.Requests)
}

func (r run) rps() float64 { return float64(r.wrk.Requests) / (float64(r.wrk.DurationUS) / 1e6) }

// errors counts wrong answers: wrk.lua's bad responses (non-200 included,
// so wrk's own status count is not added again), socket errors, responses
// wrk.lua never saw, and the sampler's failures, or its silence.
func (r run) errors() int64 {
	n := r.wrk.SocketErrors + r.wrk.Bad + int64(r.wrong) + max(0, r.wrk.Requests-r.wrk.Checked)
	if r.sampled == 0 {
		n++
	}
	return n
}

// load drives t with wrk for d while a sampler checks responses exactly and
// the target's memory is watched.
func (b *bench) load(ctx context.Context, t *target, workload string, d time.Duration) (run, error) {
	r := run{workload: workload, target: t.name, mode: b.mode}
	pid := t.cmd.Process.Pid
	peakReset := resetPeak(pid)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.sampled, r.wrong, r.wrongSample = b.sample(ctx, t, workload) })
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r.rss = max(r.rss, rssMB(pid))
			}
		}
	})
	args := []string{"-t", strconv.Itoa(b.threads), "-c", strconv.Itoa(b.connections),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s",
		"-s", b.script, t.url, "--", workload, b.tokensFile, b.bodyFiles[workload]}
	if f := b.expectFiles[workload]; f != "" {
		args = append(args, f)
	}
	wrk := b.mode.loadCommand(ctx, "wrk", args...)
	targetBefore, pgBefore, waitsBefore := cpuTime(pid), postgresCPU(), switches(pid)
	out, err := wrk.CombinedOutput()
	r.cpuTarget, r.cpuPostgres = cpuTime(pid)-targetBefore, postgresCPU()-pgBefore
	r.waits = switches(pid) - waitsBefore
	hwm := memStatus(pid).hwm
	if pgBefore < 0 {
		r.cpuPostgres = -1
	}
	if wrk.ProcessState != nil {
		r.cpuWrk = wrk.ProcessState.UserTime() + wrk.ProcessState.SystemTime()
	}
	cancel()
	wg.Wait()
	if peakReset {
		r.rss = max(r.rss, hwm)
	}
	if err != nil && parent.Err() != nil {
		return r, fmt.Errorf("%s on %s interrupted: %w", workload, t.name, context.Cause(parent))
	}
	if err != nil {
		return r, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "BENCH "); ok {
			if err := json.Unmarshal([]byte(line), &r.wrk); err != nil {
				return r, fmt.Errorf("reading wrk's result %q: %w", line, err)
			}
			return r, nil
		}
	}
	return r, fmt.Errorf("wrk printed no result:\n%s", out)
}

// bodies are the requests of the ratio rounds' workloads, sent by wrk (from
// files the driver writes) and by the sampler alike.
var bodies = map[string]string{
	"list":   `{"operationName":"Tasks","query":"query Tasks($first: Int) { tasks(first: $first) { edges { node { id title description isCompleted createdAt } } } }","variables":{"first":20}}`,
	"create": `{"operationName":"Create","query":"mutation Create($input: CreateTaskInput!) { createTask(input: $input) { id title description isCompleted createdAt } }","variables":{"input":{"title":"bench task","description":"made under load"}}}`,
}

// sample sends a request as a random user every 20 ms during a run and
// checks what wrk cannot: that the answer is the caller's own. A page must
// be exactly the user's 20 newest seeded tasks (or, where the workload has
// an expected body, be that body); a created task must be in the database
// under the caller's id.
func (b *bench) sample(ctx context.Context, t *target, workload string) (n, wrong int, first string) {
	conn, err := pgx.Connect(context.WithoutCancel(ctx), b.dbURL)
	if err != nil {
		return 0, 1, err.Error()
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n, wrong, first
		case <-tick.C:
		}
		i := rng.IntN(len(b.data.users))
		err := b.check(ctx, conn, t, workload, i)
		if ctx.Err() != nil {
			return n, wrong, first // the run ended mid-request
		}
		n++
		if err != nil {
			wrong++
			if first == "" {
				first = err.Error()
			}
		}
	}
}

func (b *bench) check(ctx context.Context, conn *pgx.Conn, t *target, workload string, i int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(b.bodies[workload]))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.tokens[i])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if want, ok := b.expect[workload]; ok {
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			return fmt.Errorf("status %d, body %.300q, want %.300q", resp.StatusCode, got, want)
		}
		return nil
	}
	type node struct {
		ID    uuid.UUID `json:"id"`
		Title string    `json:"title"`
	}
	var out struct {
		Data struct {
			Tasks struct {
				Edges []struct{ Node node } `json:"edges"`
			} `json:"tasks"`
			CreateTask *node `json:"createTask"`
		} `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("status %d, undecodable body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return fmt.Errorf("status %d, errors %s", resp.StatusCode, out.Errors)
	}
	uid := b.data.users[i]
	if workload == "create" {
		if out.Data.CreateTask == nil {
			return errors.New("no createTask in the response")
		}
		var owner string
		err := conn.QueryRow(ctx, "SELECT user_id FROM tasks WHERE id = $1", out.Data.CreateTask.ID).Scan(&owner)
		if err != nil {
			return fmt.Errorf("created task %s: %w", out.Data.CreateTask.ID, err)
		}
		if owner != uid {
			return fmt.Errorf("task %s created for %s belongs to %s", out.Data.CreateTask.ID, uid, owner)
		}
		return nil
	}
	want := b.data.newest[uid][:20]
	if got := len(out.Data.Tasks.Edges); got != len(want) {
		return fmt.Errorf("%s got %d tasks, want %d", uid, got, len(want))
	}
	for k, e := range out.Data.Tasks.Edges {
		if e.Node.ID != want[k] {
			return fmt.Errorf("%s got task %s (%q) at %d, want %s", uid, e.Node.ID, e.Node.Title, k, want[k])
		}
	}
	return nil
}
