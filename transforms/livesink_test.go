package transforms

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/bqsource/bqfake"
	"github.com/kmtrain/knowledgemodel/monitor"
)

// TestWriteLive writes three firings (a window on time, then late with more
// attempts, and another window) to files and to a BigQuery table streamed
// into (the fake): each window's file holds its latest firing, the
// dashboard and the alerts are there, and the table, created by the sink,
// holds a row per firing and exercise.
func TestWriteLive(t *testing.T) {
	streaming(t)
	f := bqfake.New(t)
	cfg := f.Config()
	dir := t.TempDir()
	start := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	firing := func(hour int, pane int64, attempts int64) LiveWindow {
		s := start.Add(time.Duration(hour) * time.Hour)
		label := s.Format(time.RFC3339)
		return LiveWindow{Start: s.UnixMilli(), End: s.Add(time.Hour).UnixMilli(), Version: "v1", Pane: pane, Late: pane > 0,
			Rows: []monitor.Row{{Day: label, Exercise: "addition", Attempts: attempts, Correct: attempts / 2, LogLikelihood: fptr(-0.5), Accuracy: fptr(0.5)}}}
	}
	p, s := beam.NewPipelineWithRoot()
	WriteLive(s, beam.Create(s, firing(0, 0, 4), firing(0, 1, 6), firing(1, 0, 2)), LiveOutput{Dir: dir,
		BigQuery: &BigQueryOutput{Table: "proj.live.windows", Endpoint: cfg.Endpoint, Insecure: true}})
	ptest.RunAndValidate(t, p)

	b, err := os.ReadFile(filepath.Join(dir, LiveWindowsDir, "20140101T000000Z_v1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), ",addition,6,3,") {
		t.Errorf("the first window's file holds\n%s\nwant its late firing's 6 attempts", b)
	}
	for _, name := range []string{filepath.Join(LiveWindowsDir, "20140101T010000Z_v1.csv"), LiveDashboardFile, LiveAlertsFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	rows := f.Inserted("proj.live.windows")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join([]string{fmt.Sprint(r["window_start"]), fmt.Sprint(r["exercise"]), fmt.Sprint(r["model_version"]),
			jsonNumber(r["attempts"]), jsonNumber(r["pane"])}, " "))
	}
	sort.Strings(got)
	want := []string{"2014-01-01T00:00:00Z addition v1 4 0", "2014-01-01T00:00:00Z addition v1 6 1", "2014-01-01T01:00:00Z addition v1 2 0"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("streamed rows\n%s\nwant\n%s\n(raw %v)", strings.Join(got, "\n"), strings.Join(want, "\n"), rows)
	}
	if calls := strings.Join(f.Calls(), " "); !strings.Contains(calls, "tables.insert") {
		t.Errorf("calls %s: the sink did not create the table", calls)
	}
}

func jsonNumber(v any) string { return fmt.Sprint(v) }

func TestLiveStateTrim(t *testing.T) {
	start := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	var st liveState
	for h := range 5 {
		s := start.Add(time.Duration(h) * time.Hour)
		st.Windows = append(st.Windows, LiveWindow{Start: s.UnixMilli(), End: s.Add(time.Hour).UnixMilli(), Version: "v1"})
		st.Alerts = append(st.Alerts, Alert{Window: windowLabel(s, s.Add(time.Hour)), Version: "v1", Exercise: "addition"})
	}
	if st.trim(5) || len(st.Windows) != 5 || len(st.Alerts) != 5 {
		t.Fatalf("trim to as many as there are: %d windows, %d alerts", len(st.Windows), len(st.Alerts))
	}
	if !st.trim(2) || len(st.Windows) != 2 || len(st.Alerts) != 2 || st.Alerts[0].Window != "2014-01-01T03:00:00Z" {
		t.Errorf("trim to 2: windows %v, alerts %v; want the last two of each", st.Windows, st.Alerts)
	}
}
