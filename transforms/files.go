package transforms

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
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

// publishFiles publishes files so that a reader, and the next run, sees
// either the files that were there or all of the new ones, even if the
// process is killed midway: one file is written under a temporary name and
// renamed; several, which must share a directory, through the protocol of
// model.PublishingFile, which first completes a publish an earlier run left
// after its commit point. A .gz path is gzipped. suffix (the version or run
// id) names the temporary files.
func publishFiles(ctx context.Context, suffix string, files []stagedFile) error {
	if len(files) == 1 {
		f := files[0]
		tmp := model.TempName(f.Path, suffix)
		if err := writeFile(ctx, tmp, f.Content, strings.HasSuffix(f.Path, ".gz")); err != nil {
			return fmt.Errorf("write %s: %v", tmp, err)
		}
		failpoint.Hit("publish/written")
		if err := renameFile(ctx, tmp, f.Path); err != nil {
			return fmt.Errorf("rename %s to %s: %v", tmp, f.Path, err)
		}
		return nil
	}
	dir, _ := splitPath(files[0].Path)
	record := model.Publishing{Version: suffix}
	for _, f := range files {
		d, name := splitPath(f.Path)
		if d != dir || name == "" {
			return fmt.Errorf("publish %s: %s and %s are not files of one directory", suffix, files[0].Path, f.Path)
		}
		record.Files = append(record.Files, model.PublishingEntry{Name: name, Temp: model.TempName(name, suffix)})
	}
	if err := completePublish(ctx, dir, record.Files); err != nil {
		return err
	}
	for i, f := range files {
		tmp := dir + "/" + record.Files[i].Temp
		if err := writeFile(ctx, tmp, f.Content, strings.HasSuffix(f.Path, ".gz")); err != nil {
			return fmt.Errorf("write %s: %v", tmp, err)
		}
		failpoint.Hit("publish/temp")
	}
	failpoint.Hit("publish/written")
	// The commit point: from here the new files are the directory's.
	j, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return err
	}
	manifest := dir + "/" + model.PublishingFile
	if err := publishFiles(ctx, suffix, []stagedFile{{manifest, append(j, '\n')}}); err != nil {
		return err
	}
	failpoint.Hit("publish/committed")
	return finishPublish(ctx, dir, record)
}

// finishPublish renames the temporary files of record, a publish past its
// commit point, that are still there into place, and then removes the
// directory's model.PublishingFile.
func finishPublish(ctx context.Context, dir string, record model.Publishing) error {
	for _, f := range record.Files {
		tmp, final := dir+"/"+f.Temp, dir+"/"+f.Name
		found, err := listFiles(ctx, tmp)
		if err != nil {
			return fmt.Errorf("publish %s: %v", record.Version, err)
		}
		if len(found) == 0 {
			continue // renamed before
		}
		if err := renameFile(ctx, tmp, final); err != nil {
			return fmt.Errorf("rename %s to %s: %v", tmp, final, err)
		}
		failpoint.Hit("publish/renamed")
	}
	if err := removeFile(ctx, dir+"/"+model.PublishingFile); err != nil {
		return fmt.Errorf("publish %s: %v", record.Version, err)
	}
	return nil
}

// completePublish readies dir for a publish of files: it finishes one that
// a killed run left past its commit point, and removes the temporary files
// of those files (and of the publishing record) that runs killed before it
// left. Only theirs: the run's other writers (--export_rows,
// --eval_predictions) may be writing into the same directory at the same
// time. Two runs must not publish into one directory at once.
func completePublish(ctx context.Context, dir string, files []model.PublishingEntry) error {
	record, pending, err := model.ReadPublishing(opener(ctx), dir)
	if err != nil {
		return fmt.Errorf("publish: %v (an earlier run left it: remove it, and the files it lists, to start afresh)", err)
	}
	if pending {
		log.Warnf(ctx, "%s: completing the publish of %s, which a killed run left", dir, record.Version)
		if err := finishPublish(ctx, dir, record); err != nil {
			return err
		}
	}
	var stale []string
	names := []string{model.PublishingFile} // the record's own, written under a temporary name too
	for _, f := range files {
		names = append(names, f.Name)
	}
	for _, name := range names {
		fs, err := listFiles(ctx, dir+"/"+model.TempName(name, "*"))
		if err != nil {
			return fmt.Errorf("publish: %v", err)
		}
		stale = append(stale, fs...)
	}
	for _, f := range stale {
		if err := removeFile(ctx, f); err != nil {
			return fmt.Errorf("publish: removing %s, which a killed run left: %v", f, err)
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

// opener opens files through Beam's filesystems, as model.Opener: a file
// that does not exist is an error wrapping fs.ErrNotExist, whatever the
// filesystem's own error for it.
func opener(ctx context.Context) model.Opener {
	return func(path string) (io.ReadCloser, error) {
		rc, err := openFile(ctx, path)
		if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			if found, lerr := listFiles(ctx, path); lerr == nil && len(found) == 0 {
				return nil, fmt.Errorf("%s: %w", path, iofs.ErrNotExist)
			}
		}
		return rc, err
	}
}

// listFiles lists the files that glob matches.
func listFiles(ctx context.Context, glob string) ([]string, error) {
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	return fs.List(ctx, glob)
}

func removeFile(ctx context.Context, path string) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	r, ok := fs.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("filesystem of %s cannot remove files", path)
	}
	return r.Remove(ctx, path)
}

// splitPath splits a path at its last slash (path.Split would clean
// gs://bucket into gs:/bucket).
func splitPath(p string) (dir, name string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return ".", p
	}
	return p[:i], p[i+1:]
}

// Exists reports whether path names a file, through Beam's filesystems.
func Exists(ctx context.Context, path string) bool {
	found, err := listFiles(ctx, path)
	return err == nil && len(found) > 0
}
