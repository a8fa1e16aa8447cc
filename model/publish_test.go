package model_test

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/model"
)

// dir is a directory in memory, as a model.Opener sees it.
type dir map[string]string

func (d dir) open(path string) (io.ReadCloser, error) {
	name := strings.TrimPrefix(path, "out/")
	c, ok := d[name]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
	}
	return io.NopCloser(strings.NewReader(c)), nil
}

func TestOpenFile(t *testing.T) {
	manifest := `{"version":"v2","files":[{"name":"thetas.jsonl","temp":"thetas.jsonl.tmp-v2"},` +
		`{"name":"summary.json","temp":"summary.json.tmp-v2"}]}`
	tests := []struct {
		name string
		dir  dir
		want string // the content of thetas.jsonl read; "" if an error
	}{
		{"no publish", dir{"thetas.jsonl": "v1"}, "v1"},
		{"killed before the commit point", dir{"thetas.jsonl": "v1", "thetas.jsonl.tmp-v2": "v2"}, "v1"},
		{"killed after it", dir{"thetas.jsonl": "v1", "thetas.jsonl.tmp-v2": "v2", model.PublishingFile: manifest}, "v2"},
		{"killed after renaming it", dir{"thetas.jsonl": "v2", "summary.json.tmp-v2": "v2", model.PublishingFile: manifest}, "v2"},
		{"a first publish killed after it", dir{"thetas.jsonl.tmp-v2": "v2", model.PublishingFile: manifest}, "v2"},
		{"nothing", dir{}, ""},
		{"a broken record", dir{"thetas.jsonl": "v1", model.PublishingFile: `{"files":[{"name":"../x","temp":"y"}]}`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := model.OpenFile(tt.dir.open, "out/", model.ThetasFile)
			if err != nil {
				if tt.want != "" {
					t.Fatalf("OpenFile: %v, want %q", err, tt.want)
				}
				return
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			if string(b) != tt.want {
				t.Errorf("read %q, want %q", b, tt.want)
			}
		})
	}
}

func TestTempName(t *testing.T) {
	tmp := model.TempName(model.ThetasFile, "20141105T120000Z")
	if tmp != "thetas.jsonl.tmp-20141105T120000Z" || !model.IsTempName("gs://b/out/"+tmp) || model.IsTempName(model.ThetasFile) {
		t.Errorf("TempName = %q; IsTempName wrong", tmp)
	}
}
