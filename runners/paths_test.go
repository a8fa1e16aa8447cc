package runners_test

import (
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/runners"
)

func TestCheckWorkerPaths(t *testing.T) {
	remote := []runners.PathFlag{{"output", "gs://b/out"}, {"input", "gs://b/a/*.csv, embed://sample/logs.csv"}, {"export_rows", ""}}
	local := []runners.PathFlag{{"output", "gs://b/out"}, {"input", "gs://b/a.csv,in/b.csv"}}
	if err := runners.CheckWorkerPaths(local...); err != nil {
		t.Errorf("on the default runner: %v", err)
	}
	testutil.SetFlags(t, map[string]string{"runner": "DataflowRunner"})
	if err := runners.CheckWorkerPaths(remote...); err != nil {
		t.Errorf("on Dataflow, gs:// and embed:// paths: %v", err)
	}
	for _, f := range []runners.PathFlag{{"output", "./out"}, {"model", "/tmp/model"}, {"input", "gs://b/a.csv,in/b.csv"}, {"history", "file:///tmp/h.csv"}} {
		err := runners.CheckWorkerPaths(append(remote, f)...)
		if err == nil || !strings.Contains(err.Error(), "--"+f.Name+"=") || !strings.Contains(err.Error(), "local path") {
			t.Errorf("on Dataflow, --%s=%s: %v, want a local path error", f.Name, f.Value, err)
		}
	}
}
