// Package modelops is what operators do to model versions, for cmd/kmmodel:
// list them, show one, compare two, and, in Datastore, promote one through
// the gate, roll back and reject.
//
// Versions live in a Source: Datastore (a store.Store: statuses, histories,
// the current version) or local output directories (Dirs: a kmtrain
// --output directory, or a directory of them). Directories have no status
// and no current version (kmtrain --output neither gates nor promotes: the
// directory is what its readers load), so only Datastore can be changed.
//
// Every change goes through store: one transaction each, recorded in the
// version's history, and a promotion is a compare-and-swap on the version
// current when the command looked (store.PromoteOptions.Expect).
package modelops

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

// Version is a version as a Source holds it.
type Version struct {
	store.VersionInfo
	// Path is the directory of a version in Dirs; empty in Datastore.
	Path string
	// Current is KnowledgeModelCurrent when this version is the current one
	// in Datastore; nil otherwise.
	Current *store.CurrentInfo
}

// Source is where versions are read.
type Source interface {
	// String names the source in messages.
	String() string
	// Versions returns every version, in no particular order.
	Versions(ctx context.Context) ([]Version, error)
	// Version returns one, or an error wrapping store.ErrNotFound.
	Version(ctx context.Context, id string) (Version, error)
	// Thetas returns a version's thetas, sorted by exercise.
	Thetas(ctx context.Context, v Version) ([]model.ExerciseThetas, error)
}

// Datastore is the versions of a store.
type Datastore struct{ Store *store.Store }

func (d Datastore) String() string {
	if ns := d.Store.Namespace(); ns != "" {
		return "Datastore namespace " + ns
	}
	return "Datastore"
}

func (d Datastore) current(ctx context.Context) (*store.CurrentInfo, error) {
	c, err := d.Store.CurrentRecord(ctx)
	if errors.Is(err, store.ErrNoCurrent) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Versions implements Source.
func (d Datastore) Versions(ctx context.Context) ([]Version, error) {
	infos, err := d.Store.Versions(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := d.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(infos))
	for i, info := range infos {
		out[i] = Version{VersionInfo: info}
		if cur != nil && cur.Version == info.ID {
			out[i].Current = cur
		}
	}
	return out, nil
}

// Version implements Source.
func (d Datastore) Version(ctx context.Context, id string) (Version, error) {
	info, err := d.Store.Version(ctx, id)
	if err != nil {
		return Version{}, err
	}
	v := Version{VersionInfo: info}
	cur, err := d.current(ctx)
	if err != nil {
		return Version{}, err
	}
	if cur != nil && cur.Version == id {
		v.Current = cur
	}
	return v, nil
}

// Thetas implements Source.
func (d Datastore) Thetas(ctx context.Context, v Version) ([]model.ExerciseThetas, error) {
	return d.Store.Thetas(ctx, v.ID)
}

// Dirs is local kmtrain output directories: Root itself, if it holds a
// model (model.ThetasFile), and each directory in it that does. A version
// is named by its directory (relative to Root, or any path) or by the
// version id in its summary.
type Dirs struct{ Root string }

func (d Dirs) String() string { return d.Root }

// isModel reports whether dir holds a model (a publish killed past its
// commit point may have left its thetas under their temporary name).
func isModel(dir string) bool {
	rc, err := model.OpenFile(openFile, dir, model.ThetasFile)
	if err != nil {
		return false
	}
	rc.Close()
	return true
}

// openFile opens a local file as model.OpenFile wants, and only a file.
func openFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a file", path)
	}
	return f, nil
}

// readFile reads the file name of the model in dir.
func readFile(dir, name string) ([]byte, error) {
	rc, err := model.OpenFile(openFile, dir, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// models returns the directories of Dirs that hold a model.
func (d Dirs) models() ([]string, error) {
	var out []string
	if isModel(d.Root) {
		out = append(out, d.Root)
	}
	entries, err := os.ReadDir(d.Root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if p := filepath.Join(d.Root, e.Name()); e.IsDir() && isModel(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// read reads the version in dir from its summary: a directory without one
// is named by its thetas (or, without any, its name) and counted from them.
func readDir(dir string) (Version, error) {
	v := Version{Path: dir}
	b, err := readFile(dir, model.SummaryFile)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &v.Summary); err != nil {
			return v, fmt.Errorf("%s: %v", filepath.Join(dir, model.SummaryFile), err)
		}
	case errors.Is(err, os.ErrNotExist):
		thetas, err := readThetas(dir)
		if err != nil {
			return v, err
		}
		v.Summary.CountTrained(thetas)
		if len(thetas) > 0 {
			v.Summary.Version = thetas[0].Version
		}
	default:
		return v, err
	}
	v.ID = cmp.Or(v.Summary.Version, filepath.Base(dir))
	return v, nil
}

func readThetas(dir string) ([]model.ExerciseThetas, error) {
	path := filepath.Join(dir, model.ThetasFile)
	b, err := readFile(dir, model.ThetasFile)
	if err != nil {
		return nil, err
	}
	th, err := model.ReadThetasJSONL(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	model.SortThetas(th)
	for i := 1; i < len(th); i++ {
		if th[i].Exercise == th[i-1].Exercise {
			return nil, fmt.Errorf("%s: exercise %q has thetas twice", path, th[i].Exercise)
		}
	}
	return th, nil
}

// Versions implements Source.
func (d Dirs) Versions(ctx context.Context) ([]Version, error) {
	dirs, err := d.models()
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(dirs))
	for _, dir := range dirs {
		v, err := readDir(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Version implements Source: id is a directory in Root, a path, or the
// version id of one of Versions.
func (d Dirs) Version(ctx context.Context, id string) (Version, error) {
	for _, dir := range []string{filepath.Join(d.Root, id), id} {
		if isModel(dir) {
			return readDir(dir)
		}
	}
	all, err := d.Versions(ctx)
	if err != nil {
		return Version{}, err
	}
	var found []Version
	for _, v := range all {
		if v.ID == id {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return Version{}, fmt.Errorf("%s: no directory %s holding a model (%s), nor one of version %s: %w",
			d.Root, id, model.ThetasFile, id, store.ErrNotFound)
	case 1:
		return found[0], nil
	}
	paths := make([]string, len(found))
	for i, v := range found {
		paths[i] = v.Path
	}
	return Version{}, fmt.Errorf("version %s is in %d directories (%s): name one", id, len(found), strings.Join(paths, ", "))
}

// Thetas implements Source. Thetas that name another version than the
// summary mean that two runs wrote the directory at once: that is an
// error.
func (d Dirs) Thetas(ctx context.Context, v Version) ([]model.ExerciseThetas, error) {
	th, err := readThetas(v.Path)
	if err != nil {
		return nil, err
	}
	for _, t := range th {
		if t.Version != "" && v.Summary.Version != "" && t.Version != v.Summary.Version {
			return nil, fmt.Errorf("%s: %s holds version %s but %s version %s (two runs wrote the directory at once?)",
				v.Path, model.ThetasFile, t.Version, model.SummaryFile, v.Summary.Version)
		}
	}
	return th, nil
}

// sortNewest orders versions newest first: by creation time, then id.
func sortNewest(vs []Version) {
	slices.SortStableFunc(vs, func(a, b Version) int {
		if c := b.Summary.Created.Compare(a.Summary.Created); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
}
