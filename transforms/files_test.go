package transforms

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/model"
)

// TestPublishFilesAfterAKill publishes into directories as killed runs
// left them, and checks the publish completes or clears what they left.
func TestPublishFilesAfterAKill(t *testing.T) {
	manifest := `{"version":"v2","files":[{"name":"a","temp":"a.tmp-v2"},{"name":"b","temp":"b.tmp-v2"}]}`
	tests := []struct {
		name   string
		before map[string]string
		// what a reader sees before the next publish
		readA, readB string
	}{
		{"killed before the commit point", map[string]string{"a": "1", "b": "1", "a.tmp-v2": "2"}, "1", "1"},
		{"killed after it", map[string]string{"a": "1", "b": "1", "a.tmp-v2": "2", "b.tmp-v2": "2",
			model.PublishingFile: manifest, model.PublishingFile + ".tmp-v2": manifest}, "2", "2"},
		{"killed after a rename", map[string]string{"a": "2", "b": "1", "b.tmp-v2": "2", model.PublishingFile: manifest}, "2", "2"},
		{"killed writing the record", map[string]string{"a": "1", "b": "1", "a.tmp-v2": "2", "b.tmp-v2": "2",
			model.PublishingFile + ".tmp-v2": manifest[:10]}, "1", "1"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, c := range tt.before {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			read := func(name string) string {
				rc, err := model.OpenFile(opener(ctx), dir, name)
				if err != nil {
					t.Fatalf("reading %s: %v", name, err)
				}
				defer rc.Close()
				b, _ := io.ReadAll(rc)
				return string(b)
			}
			if a, b := read("a"), read("b"); a != tt.readA || b != tt.readB {
				t.Errorf("before the next publish: a %q, b %q; want %q, %q", a, b, tt.readA, tt.readB)
			}
			err := publishFiles(ctx, "v3", []stagedFile{{dir + "/a", []byte("3")}, {dir + "/b", []byte("3")}})
			if err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{"a", "b"}) {
				t.Errorf("after the publish the directory holds %v, want [a b]", names)
			}
			if a, b := read("a"), read("b"); a != "3" || b != "3" {
				t.Errorf("after the publish: a %q, b %q", a, b)
			}
		})
	}
}

func TestPublishFilesOneDirectory(t *testing.T) {
	dir := t.TempDir()
	err := publishFiles(context.Background(), "v1", []stagedFile{{dir + "/a", nil}, {dir + "/sub/b", nil}})
	if err == nil || !strings.Contains(err.Error(), "one directory") {
		t.Errorf("publishFiles into two directories: %v", err)
	}
}
