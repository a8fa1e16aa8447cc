// Package sample ships a small, realistic set of ProblemLogs inside the
// binary, so that kmtrain runs with no flags and no cloud account, on any
// runner: the files are a read-only Beam filesystem under embed://sample/.
//
// problemlogs.csv.gz was made by cmd/kmsynth with its defaults (synthetic
// students answering 30 exercises with planted thetas, planted_thetas.jsonl);
// `go generate ./sample` makes it again, byte for byte.
package sample

//go:generate go run ../cmd/kmsynth --out problemlogs.csv.gz --thetas planted_thetas.jsonl

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// Scheme is the filesystem scheme of embedded files.
const Scheme = "embed"

// ProblemLogs is the path of the embedded sample of ProblemLogs.
const ProblemLogs = Scheme + "://sample/problemlogs.csv.gz"

//go:embed problemlogs.csv.gz planted_thetas.jsonl
var files embed.FS

func init() {
	filesystem.Register(Scheme, func(context.Context) filesystem.Interface { return embedFS{} })
}

// embedFS serves the embedded files, read-only.
type embedFS struct{}

func name(p string) (string, error) {
	rest, ok := strings.CutPrefix(p, Scheme+"://sample/")
	if !ok {
		return "", fmt.Errorf("%s: not under %s://sample/", p, Scheme)
	}
	return rest, nil
}

func (embedFS) List(_ context.Context, glob string) ([]string, error) {
	g, err := name(glob)
	if err != nil {
		return nil, err
	}
	matches, err := fs.Glob(files, g)
	for i, m := range matches {
		matches[i] = Scheme + "://sample/" + path.Clean(m)
	}
	return matches, err
}

func (embedFS) OpenRead(_ context.Context, p string) (io.ReadCloser, error) {
	n, err := name(p)
	if err != nil {
		return nil, err
	}
	return files.Open(n)
}

func (embedFS) OpenWrite(_ context.Context, p string) (io.WriteCloser, error) {
	return nil, fmt.Errorf("%s: embedded files are read-only", p)
}

func (embedFS) Size(_ context.Context, p string) (int64, error) {
	n, err := name(p)
	if err != nil {
		return 0, err
	}
	info, err := fs.Stat(files, n)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

func (embedFS) Close() error { return nil }
