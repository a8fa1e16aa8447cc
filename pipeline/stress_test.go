package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/pipeline"
)

// stressRuns is how many whole pipelines TestTinyInputsNeverHang runs on
// each runner: KMTRAIN_STRESS_RUNS, or 120 (24 in -short mode).
func stressRuns(t *testing.T) int {
	if v := os.Getenv("KMTRAIN_STRESS_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KMTRAIN_STRESS_RUNS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 24
	}
	return 120
}

// TestTinyInputsNeverHang runs the whole training pipeline, in process, on
// prism and on direct, hundreds of times over inputs of 0 to 3 rows (with
// CRLF line endings, a malformed row, a header alone) and over inputs that
// make many tiny bundles (many files of one row each, read in tiny
// shards). Each run must end within a deadline, or the test fails with
// every goroutine's stack; and each input must end the same way every
// time. A replay worker that read its DoFn's channel after a short bundle
// had ended hung about half of such runs.
func TestTinyInputsNeverHang(t *testing.T) {
	const header = "user,time_done,exercise,problem_type,problem_number,correct"
	row := func(u, ex string, n int, correct bool) string {
		return fmt.Sprintf("%s,2014-01-01T00:%02d:00Z,%s,pt,%d,%t", u, n, ex, n, correct)
	}
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	many := filepath.Join(dir, "many")
	os.Mkdir(many, 0o755)
	for i := range 40 {
		os.WriteFile(filepath.Join(many, fmt.Sprintf("%02d.csv", i)),
			[]byte(header+"\n"+row(fmt.Sprintf("u%d", i), fmt.Sprintf("ex%d", i%3), 1, i%2 == 0)+"\n"), 0o644)
	}
	inputs := []struct {
		name, input string
		shardBytes  int64
	}{
		{"header only", write("empty.csv", header, ""), 0},
		{"one row", write("one.csv", header, row("u", "ex", 1, true), ""), 0},
		{"one row, CRLF", write("crlf.csv", header+"\r", row("u", "ex", 1, true)+"\r", ""), 0},
		{"one row and a malformed one", write("bad.csv", header, row("u", "ex", 1, true), "u,not a time,ex,pt,2,true", ""), 0},
		{"three rows, two students", write("three.csv", header, row("u", "ex", 1, true), row("u", "ex", 2, false),
			row("v", "ex", 1, true), ""), 0},
		{"40 files of one row", filepath.Join(many, "*.csv"), 0},
		{"three rows in 64-byte shards", write("shards.csv", header, row("u", "ex", 1, true), row("u", "ex", 2, false),
			row("v", "ex", 1, true), ""), 64},
	}
	runs := stressRuns(t)
	for _, runner := range []string{"prism", "direct"} {
		outcome := map[string]string{}
		testutil.WithDeadline(t, 5*time.Minute, fmt.Sprintf("%d %s runs", runs, runner), func() {
			for i := range runs {
				in := inputs[i%len(inputs)]
				o := pipeline.DefaultOptions()
				o.Input, o.Output, o.Version = in.input, filepath.Join(dir, "out", runner, strconv.Itoa(i)), "stress"
				o.MinRows = 1
				if in.shardBytes > 0 {
					o.ShardBytes = in.shardBytes
				}
				var err error
				testutil.WithDeadline(t, time.Minute, fmt.Sprintf("%s run %d (%s)", runner, i, in.name), func() {
					p, s := beam.NewPipelineWithRoot()
					if err = pipeline.Build(s, o); err == nil {
						_, err = beam.Run(context.Background(), runner, p)
					}
				})
				got := "ok"
				if err != nil {
					got = "failed"
					if _, seen := outcome[in.name]; !seen {
						t.Logf("%s, %s: %v", runner, in.name, err)
					}
				}
				if want, seen := outcome[in.name]; seen && got != want {
					t.Errorf("%s, %s: run %d %s (%v), an earlier run of the same input %s", runner, in.name, i, got, err, want)
				}
				outcome[in.name] = got
			}
		})
		t.Logf("%s: %d runs; outcomes %v", runner, runs, outcome)
	}
}
