package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// mode is how the machine's CPUs are shared out during a run.
//
// Two CPUs (the default) is the machine as it is: the targets, PostgreSQL,
// wrk and the driver share both cores and the Go runtime's defaults.
//
// One CPU pins the target and PostgreSQL to CPU 0 with GOMAXPROCS=1 in the
// environment of both targets, and wrk and the driver (its sampler) to
// CPU 1: the server and its database on one core, the load generator not
// competing with them.
type mode struct{ cpus int }

func (m mode) String() string {
	if m.cpus == 1 {
		return "1 CPU, GOMAXPROCS=1"
	}
	return fmt.Sprintf("%d CPUs, GOMAXPROCS unset (%d)", runtime.NumCPU(), runtime.NumCPU())
}

// describe says where everything ran, for the report.
func (m mode) describe() string {
	if m.cpus == 1 {
		return "server or ceiling and PostgreSQL pinned to CPU 0 (taskset), GOMAXPROCS=1 for both targets; wrk and the driver's sampler pinned to CPU 1"
	}
	return "server or ceiling, PostgreSQL, wrk and the driver share every CPU; GOMAXPROCS unset (the Go default: one per CPU)"
}

// targetEnv is what the mode adds to both targets' environment.
func (m mode) targetEnv() []string {
	if m.cpus == 1 {
		return []string{"GOMAXPROCS=1"}
	}
	return nil
}

// targetCommand runs a target's binary, pinned in the one-CPU mode.
func (m mode) targetCommand(bin string) *exec.Cmd {
	if m.cpus == 1 {
		// taskset execs the binary: the pid is the target's.
		return exec.Command("taskset", "-c", serverCPU, bin)
	}
	return exec.Command(bin)
}

// loadCommand runs the load generator, pinned in the one-CPU mode.
func (m mode) loadCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	if m.cpus == 1 {
		return exec.CommandContext(ctx, "taskset", append([]string{"-c", loadCPU, name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

const (
	serverCPU = "0" // the target and PostgreSQL in the one-CPU mode
	loadCPU   = "1" // wrk and the driver
)

// parseModes reads -cpus: "2", "1" or "1,2" (each mode in turn).
func parseModes(s string) ([]mode, error) {
	var modes []mode
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || (n != 1 && n != 2) {
			return nil, fmt.Errorf("-cpus %q: a comma-separated list of 1 (one CPU: pinned) and 2 (both CPUs shared)", s)
		}
		if !slices.Contains(modes, mode{n}) {
			modes = append(modes, mode{n})
		}
	}
	if slices.Contains(modes, mode{1}) {
		if _, err := exec.LookPath("taskset"); err != nil {
			return nil, errors.New("-cpus 1 needs taskset (Debian: util-linux)")
		}
		if !onlineCPU(0) || !onlineCPU(1) {
			return nil, errors.New("-cpus 1 needs CPUs 0 and 1 available to this process")
		}
	}
	return modes, nil
}

// onlineCPU tells whether this process may run on cpu.
func onlineCPU(cpu int) bool {
	out, err := exec.Command("taskset", "-c", "-p", strconv.Itoa(os.Getpid())).Output()
	if err != nil {
		return false
	}
	_, list, ok := strings.Cut(strings.TrimSpace(string(out)), ": ")
	if !ok {
		return false
	}
	for r := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 == nil && err2 == nil && a <= cpu && cpu <= b {
			return true
		}
	}
	return false
}

// affinity returns a process's CPU list as taskset prints it ("0,1", "0-3").
func affinity(pid int) (string, error) {
	out, err := exec.Command("taskset", "-c", "-p", strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("taskset -c -p %d: %v: %s", pid, err, strings.TrimSpace(string(out)))
	}
	_, list, ok := strings.Cut(strings.TrimSpace(string(out)), ": ")
	if !ok {
		return "", fmt.Errorf("taskset -c -p %d printed %q", pid, out)
	}
	return list, nil
}

// setAffinity pins every thread of a process to a CPU list.
func setAffinity(pid int, list string) error {
	out, err := exec.Command("taskset", "-a", "-c", "-p", list, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -c -p %s %d: %v: %s", list, pid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pinning is the CPU affinity the one-CPU mode changed: PostgreSQL's
// postmaster and its children, and the driver itself. Restore puts every
// one back; it is safe to call more than once and from a signal handler's
// goroutine.
type pinning struct {
	mu         sync.Mutex
	postmaster int
	original   map[int]string // pid → CPU list before pinning
	self       string         // the driver's own CPU list before pinning
	restored   bool
	stopSignal func()
	unlock     func()
}

// pinCPUs pins the local PostgreSQL that dbURL reaches to CPU 0 and the
// driver to CPU 1. New backends fork from the postmaster and inherit its
// affinity. The original affinity is restored by Restore, which the
// caller defers; a signal restores it at once too, so a Ctrl-C that does
// not let the deferred calls run (a second one) still leaves PostgreSQL as
// it was.
func pinCPUs(ctx context.Context, dbURL string) (*pinning, error) {
	pm, err := postmasterPID(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("-cpus 1 pins PostgreSQL, which must run on this machine: %w", err)
	}
	// One pinning run at a time: a second would read the first's CPU 0 as
	// PostgreSQL's own affinity and "restore" it to that.
	unlock, err := lockPinning(ctx)
	if err != nil {
		return nil, err
	}
	p := &pinning{postmaster: pm, original: map[int]string{}, unlock: unlock}
	if p.original[pm], err = affinity(pm); err != nil {
		unlock()
		return nil, err
	}
	if p.self, err = affinity(os.Getpid()); err != nil {
		unlock()
		return nil, err
	}
	if p.original[pm] == serverCPU {
		log.Printf("PostgreSQL (postmaster %d) is on CPU %s alone already, and will be left so: if a killed run left it pinned, give it every CPU back with: "+
			"for p in %d $(pgrep -P %d); do taskset -a -c -p 0-%d $p; done", pm, serverCPU, pm, pm, runtime.NumCPU()-1)
	}
	log.Printf("pinning PostgreSQL (postmaster %d, CPUs %s) to CPU %s and the driver to CPU %s; should this process be killed, restore PostgreSQL with: "+
		"for p in %d $(pgrep -P %d); do taskset -a -c -p %s $p; done", pm, p.original[pm], serverCPU, loadCPU, pm, pm, p.original[pm])

	// Restore on a signal before anything else happens: the first Ctrl-C
	// also cancels the run (main's context), whose deferred Restore then
	// has nothing left to do.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	p.stopSignal = func() { signal.Stop(sig); close(done) }
	go func() {
		select {
		case <-sig:
			// Restore stops this relay: a second signal then ends the
			// process the default way, PostgreSQL already back.
			p.Restore()
		case <-done:
		}
	}()

	if err := p.pin(); err != nil {
		p.Restore()
		return nil, err
	}
	return p, nil
}

// pin does the pinning, under the lock, so a signal's Restore waits for it
// and then undoes all of it.
func (p *pinning) pin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.restored {
		return errors.New("interrupted before pinning")
	}
	// The postmaster first, so that a backend forked meanwhile inherits CPU
	// 0; then every child that exists already.
	if err := setAffinity(p.postmaster, serverCPU); err != nil {
		return err
	}
	for _, pid := range children(p.postmaster) {
		orig, err := affinity(pid)
		if err != nil {
			continue // exited meanwhile
		}
		p.original[pid] = orig
		if err := setAffinity(pid, serverCPU); err != nil && processExists(pid) {
			return err
		}
	}
	return setAffinity(os.Getpid(), loadCPU)
}

// Restore gives PostgreSQL (the postmaster and every child it has now,
// backends forked while pinned included) and the driver their original
// CPUs back.
func (p *pinning) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.restored {
		return
	}
	p.restored = true
	if p.stopSignal != nil {
		defer p.stopSignal()
	}
	defer p.unlock()
	var failed []string
	restore := func(pid int, list string) {
		if err := setAffinity(pid, list); err != nil && processExists(pid) {
			failed = append(failed, err.Error())
		}
	}
	restore(p.postmaster, p.original[p.postmaster])
	for _, pid := range children(p.postmaster) {
		orig, ok := p.original[pid]
		if !ok {
			orig = p.original[p.postmaster] // forked while pinned
		}
		restore(pid, orig)
	}
	restore(os.Getpid(), p.self)
	if len(failed) > 0 {
		log.Printf("RESTORING POSTGRESQL'S CPU AFFINITY FAILED (%s); run: for p in %d $(pgrep -P %d); do taskset -a -c -p %s $p; done",
			strings.Join(failed, "; "), p.postmaster, p.postmaster, p.original[p.postmaster])
		return
	}
	log.Printf("restored PostgreSQL (postmaster %d and its children) to CPUs %s", p.postmaster, p.original[p.postmaster])
}

// lockPinning takes the machine-wide lock of the runs that pin PostgreSQL,
// waiting while another run holds it. The lock goes with the process, so a
// killed run does not leave it taken.
func lockPinning(ctx context.Context) (func(), error) {
	path := filepath.Join(os.TempDir(), "taskapi-bench-cpus.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !waited {
			log.Printf("another benchmark is pinning PostgreSQL (%s is locked): waiting for it", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// postmasterPID finds the postmaster of the PostgreSQL server dbURL
// reaches: from its data directory's postmaster.pid when the server tells
// where that is (superusers and pg_read_all_settings), else from the
// postmaster.pid of a Debian cluster on the URL's port, else the oldest
// postgres process. The URL's host must be this machine.
func postmasterPID(ctx context.Context, dbURL string) (int, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return 0, err
	}
	switch h := u.Hostname(); h {
	case "", "localhost", "127.0.0.1", "::1":
	default:
		if !strings.HasPrefix(h, "/") { // a Unix socket directory is local too
			return 0, fmt.Errorf("%s is not this machine", h)
		}
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	var candidates []string
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		var dir string
		if conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir) == nil {
			candidates = append(candidates, filepath.Join(dir, "postmaster.pid"))
		}
		conn.Close(ctx)
	}
	globbed, _ := filepath.Glob("/var/lib/postgresql/*/*/postmaster.pid")
	candidates = append(candidates, globbed...)
	for _, f := range candidates {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// Line 1 is the postmaster's pid, line 4 its port.
		lines := strings.Split(string(b), "\n")
		if len(lines) < 4 || strings.TrimSpace(lines[3]) != port {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(lines[0])); err == nil && isPostgres(pid) {
			return pid, nil
		}
	}
	out, err := exec.Command("pgrep", "-o", "-x", "postgres").Output()
	if err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && isPostgres(pid) {
			return pid, nil
		}
	}
	return 0, errors.New("no postmaster found (no postmaster.pid for the port, no postgres process)")
}

func isPostgres(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "postgres"
}

func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// children lists the processes whose parent is pid, from /proc.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			out = append(out, child)
		}
	}
	return out
}
