package transforms

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// openFile opens a file through Beam's filesystems, decompressing .gz.
func openFile(ctx context.Context, path string) (io.ReadCloser, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	rc, err := fs.OpenRead(ctx, path)
	if err != nil {
		fs.Close()
		return nil, err
	}
	if !strings.HasSuffix(strings.ToLower(path), ".gz") {
		return &closers{rc, []io.Closer{rc, fs}}, nil
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		fs.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &closers{zr, []io.Closer{zr, rc, fs}}, nil
}

type closers struct {
	io.Reader
	all []io.Closer
}

func (c *closers) Close() error {
	var first error
	for _, cl := range c.all {
		if err := cl.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// stagedFile is a file's content waiting to be published.
type stagedFile struct {
	Path    string
	Content []byte
}

// publishFiles writes every file to a temporary name beside it, and only
// once all are written renames them into place, so that a failure leaves the
// previous files as they were rather than a mix of old and new. A .gz path
// is gzipped.
func publishFiles(ctx context.Context, suffix string, files []stagedFile) error {
	type staged struct{ tmp, final string }
	var done []staged
	for _, f := range files {
		tmp := f.Path + ".tmp-" + suffix
		if err := writeFile(ctx, tmp, f.Content, strings.HasSuffix(f.Path, ".gz")); err != nil {
			return fmt.Errorf("write %s: %v", tmp, err)
		}
		done = append(done, staged{tmp, f.Path})
	}
	for _, s := range done {
		if err := renameFile(ctx, s.tmp, s.final); err != nil {
			return fmt.Errorf("rename %s to %s: %v", s.tmp, s.final, err)
		}
	}
	return nil
}

func writeFile(ctx context.Context, path string, content []byte, gz bool) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, path)
	if err != nil {
		return err
	}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(content)
		if err := zw.Close(); err != nil {
			w.Close()
			return err
		}
		content = buf.Bytes()
	}
	if _, err := w.Write(content); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func renameFile(ctx context.Context, from, to string) error {
	fs, err := filesystem.New(ctx, from)
	if err != nil {
		return err
	}
	defer fs.Close()
	if r, ok := fs.(filesystem.Renamer); ok {
		return r.Rename(ctx, from, to)
	}
	c, ok := fs.(filesystem.Copier)
	if !ok {
		return fmt.Errorf("filesystem of %s cannot rename or copy", from)
	}
	if err := c.Copy(ctx, from, to); err != nil {
		return err
	}
	if r, ok := fs.(filesystem.Remover); ok {
		return r.Remove(ctx, from)
	}
	return nil
}
