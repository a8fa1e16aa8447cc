package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// TestNamesThatCannotBeStored trains on the conformance logs with rows whose
// names could never be stored added: they are bad rows, counted by reason,
// and the rest trains.
func TestNamesThatCannotBeStored(t *testing.T) {
	logs, err := os.ReadFile("../../testdata/khan2014/problemlogs.csv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "logs.csv"), filepath.Join(dir, "out")
	bad := "student_001,2014-01-05T18:27:50Z," + strings.Repeat("x", 5<<20) + ",pt1,1,true\n" +
		"student_001,2014-01-05T18:27:50Z,ex\x00,pt1,1,true\n" +
		"student_\xff,2014-01-05T18:27:50Z,ex_slopes_3,pt1,1,true\n"
	if err := os.WriteFile(in, append(logs, bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	explicit := testutil.SetFlags(t, map[string]string{"input": in, "output": out, "min_rows": "1", "version": "v1"})
	if err := run(context.Background(), explicit); err != nil {
		t.Fatalf("run: %s", errline.Line(err))
	}
	b, err := os.ReadFile(filepath.Join(out, model.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s model.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{problemlogs.ReasonTooLong: 1, problemlogs.ReasonControl: 1, problemlogs.ReasonInvalidUTF8: 1}
	if fmt.Sprint(s.BadRowReasons) != fmt.Sprint(want) || s.BadRows != 3 || s.ExercisesTrained == 0 {
		t.Errorf("bad rows %d by reason %v, %d exercises trained; want 3 by %v, and some trained", s.BadRows, s.BadRowReasons, s.ExercisesTrained, want)
	}
	for _, ex := range s.BadRowExamples {
		if len(ex) > 1000 {
			t.Errorf("a bad row's example is %d bytes long: %.100q...", len(ex), ex)
		}
	}
}

// TestFailureLine runs a pipeline that fails in a DoFn (a file lacks a
// column) and checks the one line kmtrain prints for it.
func TestFailureLine(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "bad.csv"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte("user,time_done,exercise\nu,2014-01-01T00:00:00Z,e\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	explicit := testutil.SetFlags(t, map[string]string{"input": in, "output": out, "version": "v1"})
	err := run(context.Background(), explicit)
	if err == nil {
		t.Fatal("run succeeded")
	}
	want := fmt.Sprintf(`pipeline failed (nothing was written to %s): input %s: header "user,time_done,exercise" has no column "problem_type"`, out, in)
	if got := errline.Line(err); got != want {
		t.Errorf("the line of %q\n is %q\nwant %q", err, got, want)
	}
}
