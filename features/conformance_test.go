package features_test

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

const conformanceDir = "../testdata/khan2014/"

// readConformanceLogs reads the conformance case's ProblemLogs grouped by user.
func readConformanceLogs(t *testing.T) map[string][]features.ProblemLog {
	t.Helper()
	f, err := os.Open(conformanceDir + "problemlogs.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	p, err := problemlogs.NewCSVParser(sc.Bytes(), problemlogs.DefaultColumns)
	if err != nil {
		t.Fatal(err)
	}
	byUser := map[string][]features.ProblemLog{}
	for sc.Scan() {
		l, err := p.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("parse %q: %v", sc.Text(), err)
		}
		byUser[l.User] = append(byUser[l.User], l)
	}
	return byUser
}

func readConformanceComponents(t *testing.T) *features.Components {
	t.Helper()
	f, err := os.Open(conformanceDir + "components.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	comps, err := features.ReadComponentsJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := features.NewComponents(comps)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConformance replays the conformance case and compares every value with
// the rows Khan Academy's own code produced.
func TestConformance(t *testing.T) {
	comps := readConformanceComponents(t)
	type key struct {
		user, exercise string
		number         int
	}
	got := map[key]features.Row{}
	var dropped []string
	for user, logs := range readConformanceLogs(t) {
		err := features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems}, func(r *features.Row) {
			got[key{r.User, r.Exercise, r.ProblemNumber}] = *r
		})
		var gap *features.GapError
		if errors.As(err, &gap) {
			dropped = append(dropped, user)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(dropped) != 1 || dropped[0] != "student_gap" {
		t.Errorf("dropped %v, want [student_gap]", dropped)
	}

	f, err := os.Open(conformanceDir + "expected_rows.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(zr)
	header, _ := r.Read()
	records, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != len(got) {
		t.Errorf("replay emitted %d rows, expected %d", len(got), len(records))
	}
	var worst float64
	for _, rec := range records {
		n, _ := strconv.Atoi(rec[3])
		row, ok := got[key{rec[0], rec[1], n}]
		if !ok {
			t.Fatalf("no row for %v", rec[:5])
		}
		if row.ProblemType != rec[2] || row.TimeDone.Format("2006-01-02T15:04:05.000000Z") != rec[4] || (rec[5] == "1") != row.Correct {
			t.Errorf("row %v: got %s %s %v", rec[:6], row.ProblemType, row.TimeDone, row.Correct)
		}
		for j := 6; j < len(rec); j++ {
			want, _ := strconv.ParseFloat(rec[j], 64)
			d := math.Abs(row.X[j-5] - want)
			worst = math.Max(worst, d)
			if d > 1e-9 {
				t.Fatalf("row %v column %s: got %.17g want %.17g", rec[:5], header[j], row.X[j-5], want)
			}
		}
	}
	t.Logf("%d rows, largest difference %.3g", len(records), worst)
}
