package persisted

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// configMapData is the symlink a Kubernetes ConfigMap or Secret volume swaps
// (by renaming a new one over it) to replace every file at once; the files
// the pod sees are symlinks through it and see no event of their own.
const configMapData = "..data"

// Watch calls reload after any change to the files or directories paths
// names (created, written, renamed, removed, and ConfigMap-style swaps of a
// directory's ..data), debounced: reload runs once no change has come for
// debounce, so one release's copy of several files causes one reload.
//
// It watches each named directory, and for a named file its parent directory
// (filtering events to that file), because editors and deploy tools replace
// files by rename, which a watch on the file itself would not survive. In a
// named directory, only changes to the files Load reads (*.json, not
// dot-files) and to ..data count.
//
// Watch returns once the watches are in place, so a change made after it
// returns is seen; it returns an error only if the watch cannot start. It
// then watches until ctx is done and closes the returned channel when it has
// stopped. reload runs on the watching goroutine: never twice at once, and
// never after the channel is closed. Errors while watching (a lost watch, an
// overflowing event queue, a watched directory removed) go to onError, which
// may be nil; each is followed by a reload, since a change may have been
// missed.
func Watch(ctx context.Context, paths []string, debounce time.Duration, reload func(), onError func(error)) (<-chan struct{}, error) {
	if len(paths) == 0 {
		return nil, errors.New("persisted documents: watching: no paths")
	}
	fs := filters{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("persisted documents: watching: %w", err)
		}
		p = filepath.Clean(p)
		if fi.IsDir() {
			fs.dir(p).all = true
		} else {
			fs.dir(filepath.Dir(p)).files[filepath.Base(p)] = true
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("persisted documents: watching: %w", err)
	}
	for dir := range fs {
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("persisted documents: watching %s: %w", display(dir), err)
		}
	}
	if onError == nil {
		onError = func(error) {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		watch(ctx, w, fs, debounce, reload, onError)
	}()
	return done, nil
}

// watch is Watch's loop.
func watch(ctx context.Context, w *fsnotify.Watcher, fs filters, debounce time.Duration, reload func(), onError func(error)) {
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	var fire <-chan time.Time // nil while no reload is pending
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if !ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename) {
				continue // chmod: indexers and backup tools touch files without changing them
			}
			if fs[ev.Name] != nil && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				onError(fmt.Errorf("persisted documents: watching %s: the directory was removed or renamed; later changes in its place are not seen", display(ev.Name)))
			} else if !fs.match(ev.Name) {
				continue
			}
			timer.Reset(debounce)
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			onError(fmt.Errorf("persisted documents: watching: %w", err))
			timer.Reset(debounce)
			fire = timer.C
		case <-fire:
			fire = nil
			reload()
		}
	}
}

// filters says, for each watched directory, which of its entries count.
type filters map[string]*filter

// filter is one watched directory's choice of entries.
type filter struct {
	all   bool            // a named directory: every manifest Load would read
	files map[string]bool // named files, by base name
}

// dir returns the filter for a directory, adding it if new.
func (fs filters) dir(path string) *filter {
	f := fs[path]
	if f == nil {
		f = &filter{files: map[string]bool{}}
		fs[path] = f
	}
	return f
}

// match reports whether an event's path is a change to what paths name. A
// ..data swap counts for named files too: a file in a ConfigMap volume is a
// symlink through it.
func (fs filters) match(path string) bool {
	f := fs[filepath.Dir(path)]
	if f == nil {
		return false
	}
	base := filepath.Base(path)
	return base == configMapData || f.files[base] || f.all && isManifestName(base)
}
