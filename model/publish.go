package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// PublishingFile is the record of a publish in progress in a directory.
//
// A run publishes its files (the model's, or a monitoring run's) so that a
// reader never sees a mix of two runs, even if the run is killed midway:
//
//  1. it writes each file under a temporary name beside it (TempName);
//  2. it writes PublishingFile, which lists them: the commit point;
//  3. it renames each temporary file into place;
//  4. it removes PublishingFile.
//
// Killed before step 2, the directory still holds the previous files (and
// temporary ones, which the next publish removes); killed after it, the
// new files are all there, some under their temporary names: a reader finds
// them through OpenFile, and the next publish into the directory completes
// the renames first.
const PublishingFile = "publishing.json"

// Publishing is the content of PublishingFile.
type Publishing struct {
	// Version is the version (or run) whose files these are.
	Version string `json:"version"`
	// Files are the files being published, by name in the directory.
	Files []PublishingEntry `json:"files"`
}

// PublishingEntry is one file being published: Temp, until it is renamed
// Name.
type PublishingEntry struct {
	Name string `json:"name"`
	Temp string `json:"temp"`
}

// TempName is the name under which a publish of the given version writes
// the file name before renaming it.
func TempName(name, version string) string { return name + tempInfix + version }

const tempInfix = ".tmp-"

// IsTempName reports whether name is a file's temporary name (TempName).
func IsTempName(name string) bool { return strings.Contains(path.Base(name), tempInfix) }

// Temp returns the temporary name under which p has name, if p lists it.
func (p Publishing) Temp(name string) (string, bool) {
	for _, f := range p.Files {
		if f.Name == name {
			return f.Temp, true
		}
	}
	return "", false
}

// ParsePublishing parses the content of a PublishingFile.
func ParsePublishing(b []byte) (Publishing, error) {
	var p Publishing
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s: %v", PublishingFile, err)
	}
	for _, f := range p.Files {
		if f.Name == "" || f.Temp == "" || strings.ContainsAny(f.Name+f.Temp, "/\\") {
			return p, fmt.Errorf("%s: file %q, temporary %q: want two names in the directory", PublishingFile, f.Name, f.Temp)
		}
	}
	return p, nil
}

// Opener opens a file by path for reading (os.Open, or a filesystem's
// OpenRead). An error for a file that does not exist wraps fs.ErrNotExist.
type Opener func(path string) (io.ReadCloser, error)

// OpenFile opens the file name of directory dir, as the last publish there
// left it: if that publish was killed after its commit point (see
// PublishingFile), the file may still be under its temporary name.
func OpenFile(open Opener, dir, name string) (io.ReadCloser, error) {
	dir = strings.TrimSuffix(dir, "/")
	if p, ok, err := ReadPublishing(open, dir); err != nil {
		return nil, err
	} else if ok {
		if temp, listed := p.Temp(name); listed {
			if rc, err := open(dir + "/" + temp); err == nil {
				return rc, nil
			}
			// Renamed into place since.
		}
	}
	return open(dir + "/" + name)
}

// ReadPublishing reads the PublishingFile of dir; ok is false if there is
// none, that is, no publish was interrupted after its commit point.
func ReadPublishing(open Opener, dir string) (p Publishing, ok bool, err error) {
	dir = strings.TrimSuffix(dir, "/")
	rc, err := open(dir + "/" + PublishingFile)
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return p, false, fmt.Errorf("%s/%s: %v", dir, PublishingFile, err)
	}
	if p, err = ParsePublishing(b); err != nil {
		return p, false, fmt.Errorf("%s/%v", dir, err)
	}
	return p, true, nil
}
