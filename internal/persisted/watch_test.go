package persisted

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// eventually is how long a test waits for a reload that should come; long
// enough for a loaded CI machine, and only spent when the test fails.
const eventually = 5 * time.Second

// startWatch runs Watch until the test ends and returns a channel that
// receives once per reload.
func startWatch(t *testing.T, paths []string, debounce time.Duration) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	reloads := make(chan struct{}, 100)
	done, err := Watch(ctx, paths, debounce, func() { reloads <- struct{}{} }, func(err error) {
		t.Errorf("watch error: %v", err)
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return reloads
}

// waitReload fails the test unless a reload comes.
func waitReload(t *testing.T, reloads <-chan struct{}) {
	t.Helper()
	select {
	case <-reloads:
	case <-time.After(eventually):
		t.Fatal("no reload")
	}
}

// configMap lays out dir as the kubelet does for a ConfigMap volume whose
// data is files, and returns a function that swaps in new contents the way
// the kubelet does: a new timestamped directory, then ..data renamed over.
func configMap(t *testing.T, dir string, files map[string]string) (update func(files map[string]string)) {
	t.Helper()
	generation := 0
	update = func(files map[string]string) {
		t.Helper()
		generation++
		ts := filepath.Join(dir, "..2026_01_02_03_04_05."+strconv.Itoa(generation))
		if err := os.Mkdir(ts, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			writeFile(t, ts, name, data)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, configMapData)); err != nil {
			t.Fatal(err)
		}
		for name := range files {
			link := filepath.Join(dir, name)
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.Symlink(filepath.Join(configMapData, name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	update(files)
	return update
}

func TestWatchReloads(t *testing.T) {
	const debounce = 10 * time.Millisecond
	relay := string(readFixture(t, "relay/queryMap.json"))
	rename := func(t *testing.T, from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	// Each prepare lays out dir and returns the paths to watch and the change.
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) (paths []string, change func())
	}{
		{"a new file in a watched directory", func(t *testing.T, dir string) ([]string, func()) {
			writeFile(t, dir, "app-1.0.json", relay)
			return []string{dir}, func() { writeFile(t, dir, "app-1.1.json", relay) }
		}},
		{"a file removed from a watched directory", func(t *testing.T, dir string) ([]string, func()) {
			old := writeFile(t, dir, "app-1.0.json", relay)
			writeFile(t, dir, "app-1.1.json", relay)
			return []string{dir}, func() {
				if err := os.Remove(old); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a watched file written in place", func(t *testing.T, dir string) ([]string, func()) {
			f := writeFile(t, dir, "queryMap.json", relay)
			return []string{f}, func() { writeFile(t, dir, "queryMap.json", "{}") }
		}},
		{"a watched file replaced by rename", func(t *testing.T, dir string) ([]string, func()) {
			f := writeFile(t, dir, "queryMap.json", relay)
			return []string{f}, func() { rename(t, writeFile(t, dir, ".queryMap.json.tmp", "{}"), f) }
		}},
		{"a ConfigMap directory's ..data swapped", func(t *testing.T, dir string) ([]string, func()) {
			update := configMap(t, dir, map[string]string{"queryMap.json": relay})
			return []string{dir}, func() { update(map[string]string{"queryMap.json": "{}"}) }
		}},
		{"a file in a ConfigMap volume whose ..data is swapped", func(t *testing.T, dir string) ([]string, func()) {
			update := configMap(t, dir, map[string]string{"queryMap.json": relay})
			return []string{filepath.Join(dir, "queryMap.json")}, func() { update(map[string]string{"queryMap.json": "{}"}) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths, change := tt.prepare(t, t.TempDir())
			reloads := startWatch(t, paths, debounce)
			change()
			waitReload(t, reloads)
		})
	}
}

func TestWatchDebounces(t *testing.T) {
	// The writes take microseconds; only a stall longer than the generous
	// debounce between two of them could split them into two reloads. A
	// second reload would come within quiet after the first.
	const debounce = 300 * time.Millisecond
	const quiet = 3 * debounce
	dir := t.TempDir()
	writeFile(t, dir, "app-1.0.json", "{}")
	reloads := startWatch(t, []string{dir}, debounce)
	for _, name := range []string{"app-1.1.json", "app-1.2.json", "app-1.3.json"} {
		writeFile(t, dir, name, `{"c1": "query { a }"}`)
	}
	waitReload(t, reloads)
	select {
	case <-reloads:
		t.Fatal("several quick writes gave more than one reload")
	case <-time.After(quiet):
	}
}

func TestWatchStopsWhenContextIsDone(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app.json", "{}")
	ctx, cancel := context.WithCancel(t.Context())
	done, err := Watch(ctx, []string{dir}, time.Millisecond, func() {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(eventually):
		t.Fatal("Watch did not stop")
	}
}

func TestWatchRefusesAMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere.json")
	_, err := Watch(t.Context(), []string{missing}, time.Millisecond, func() {}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if want := "persisted documents: watching: stat " + missing; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start %q", err, want)
	}
}

func TestWatchMatch(t *testing.T) {
	fs := filters{}
	fs.dir("/etc/persisted").all = true
	fs.dir("/srv/app").files["queryMap.json"] = true
	tests := []struct {
		name, path string
		want       bool
	}{
		{"a manifest in a named directory counts", "/etc/persisted/app-1.1.json", true},
		{"a dot-file in a named directory does not", "/etc/persisted/.app-1.1.json", false},
		{"a non-JSON file in a named directory does not", "/etc/persisted/app.json.swp", false},
		{"..data in a named directory counts", "/etc/persisted/..data", true},
		{"a ConfigMap's timestamped directory does not", "/etc/persisted/..2026_01_02_03_04_05.1", false},
		{"a named file counts", "/srv/app/queryMap.json", true},
		{"another file beside a named file does not", "/srv/app/other.json", false},
		{"an editor's temporary file beside a named file does not", "/srv/app/.queryMap.json.tmp", false},
		{"..data beside a named file counts", "/srv/app/..data", true},
		{"a file in a subdirectory does not", "/etc/persisted/old/app-1.0.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fs.match(tt.path); got != tt.want {
				t.Errorf("match(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}
