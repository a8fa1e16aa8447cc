package transforms

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/kmtrain/knowledgemodel/problemlogs"
	_ "github.com/kmtrain/knowledgemodel/runners"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".gz") {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			zw := gzip.NewWriter(f)
			zw.Write([]byte(content))
			zw.Close()
			f.Close()
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// describe formats merged Stats and a log count as one comparable line.
func describe(s Stats) string {
	var keys []string
	for k, v := range s.Counts {
		keys = append(keys, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func countLogs(_ string, b LogBatch) int { return len(b.Logs) }

func init() {
	beam.RegisterFunction(countLogs)
	beam.RegisterFunction(describe)
}

func TestReadProblemLogsBadInput(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.csv": "time_taken,user,time_done,exercise,problem_type,problem_number,correct,count_hints\n" +
			"3,u1,2014-01-01T00:00:00Z,ex1,pt0,1,true,0\n" +
			"3,u1,2014-01-01T00:01:00Z,ex1,pt0,2,false,0\n" +
			"3,u2,2014-01-01T00:01:00Z,ex1,pt0,1,maybe,0\n" + // unknown correct
			"3,,2014-01-01T00:01:00Z,ex1,pt0,1,true,0\n" + // missing user
			"3,u3,yesterday,ex1,pt0,1,true,0\n" + // bad time
			"3,u3,2014-01-01T00:01:00Z,ex1,pt0,one,true,0\n" + // bad problem number
			"3,u3,2014-01-01T00:01:00Z,ex1\n" + // short row
			"3,u3\x00,2014-01-01T00:01:00Z,ex1,pt0,1,true,0\n" + // NUL in the user
			"3,u3,2014-01-01T00:01:00Z,ex1,pt\xff,1,true,0\n" + // invalid UTF-8
			"3,u3,2014-01-01T00:01:00Z," + strings.Repeat("x", 5<<20) + ",pt0,1,true,0\n" + // could never be a key
			"\n",
		"b.json.gz": `{"user":"u4","time_done":"2014-01-02 03:04:05.678 UTC","exercise":"ex2","problem_type":"pt1","problem_number":"1","correct":true}` + "\n" +
			`{"user":"u4","time_done":"2014-01-02 03:05:05.678 UTC","exercise":"ex2","problem_type":"pt1","problem_number":2,"correct":"false","extra":[1]}` + "\n" +
			`{"user":"u4",` + "\n",
		"empty.csv":  "",
		"header.csv": "user,time_done,exercise,problem_type,problem_number,correct\n",
	})
	p, s := beam.NewPipelineWithRoot()
	logs, stats := ReadProblemLogs(s, filepath.Join(dir, "*"), problemlogs.DefaultColumns, 0)
	passert.Sum(s, beam.ParDo(s, countLogs, logs), "logs", 2, 4) // u1 and u4: one batch each
	want := "bad_rows/control character=1 bad_rows/invalid UTF-8=1 " +
		"bad_rows/malformed JSON=1 bad_rows/missing field=1 bad_rows/unknown correct value=1 " +
		"bad_rows/unparsable problem_number=1 bad_rows/unparsable time_done=1 bad_rows/value too long=1 bad_rows/wrong number of columns=1 " +
		"bad_rows=9 empty_files=1 files_read=4 header_only_files=1 logs_read=4 shards=4 shards_read=4"
	passert.Equals(s, beam.ParDo(s, describe, MergeStats(s, stats)), want)
	ptest.RunAndValidate(t, p)
}

func TestReadProblemLogsErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"nocorrect.csv": "user,time_done,exercise,problem_type,problem_number\nu1,2014-01-01T00:00:00Z,ex1,pt0,1\n",
	})
	for name, pattern := range map[string]string{
		"missing column": filepath.Join(dir, "nocorrect.csv"),
		"no match":       filepath.Join(dir, "nothing*.csv"),
	} {
		t.Run(name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			logs, _ := ReadProblemLogs(s, pattern, problemlogs.DefaultColumns, 0)
			passert.Sum(s, beam.ParDo(s, countLogs, logs), "logs", 0, 0)
			err := ptest.Run(p)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{"no column \"correct\"", "matches no files"} {
				if strings.Contains(err.Error(), want) {
					return
				}
			}
			t.Errorf("error does not say what is wrong: %.300s", err)
		})
	}
	if _, err := MatchFiles(context.Background(), filepath.Join(dir, "nothing*.csv")); err == nil || !strings.Contains(err.Error(), "matches no files") {
		t.Errorf("MatchFiles: %v", err)
	}
}

// TestMatchFilesOnce: a file that several patterns match is read once.
func TestMatchFilesOnce(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.csv", "b.csv"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	patterns := strings.Join([]string{filepath.Join(dir, "*.csv"), a, filepath.Join(dir, ".", "b.csv"), a}, ",")
	got, err := MatchFiles(context.Background(), patterns)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a, b}; !slices.Equal(got, want) {
		t.Errorf("MatchFiles(%s) = %q, want %q", patterns, got, want)
	}
}

// TestReadShards reads a file in many small byte ranges: every line must be
// read exactly once, whatever the boundaries.
func TestReadShards(t *testing.T) {
	var b strings.Builder
	b.WriteString("user,time_done,exercise,problem_type,problem_number,correct\n")
	const n = 500
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "u%d,2014-01-01T00:%02d:%02dZ,ex%d,pt0,%d,%v\n", i%17, i/60%60, i%60, i%3, i/51+1, i%2 == 0)
	}
	dir := writeFiles(t, map[string]string{"big.csv": b.String()})
	for _, shard := range []int64{7, 64, 100, 1000, 1 << 20} {
		p, s := beam.NewPipelineWithRoot()
		logs, counts := ReadProblemLogs(s, filepath.Join(dir, "big.csv"), problemlogs.DefaultColumns, shard)
		passert.Equals(s, stats.Sum(s, beam.ParDo(s, countLogs, logs)), n)
		passert.Equals(s, beam.ParDo(s, describe, MergeStats(s, counts)), fmt.Sprintf("files_read=1 logs_read=%d shards=%d shards_read=%[2]d", n, (int64(b.Len())+shard-1)/shard))
		if err := ptest.Run(p); err != nil {
			t.Fatalf("shards of %d bytes: %v", shard, err)
		}
	}
}
