package features

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// firstLines returns the first n lines of a file of the conformance case,
// for seeds.
func firstLines(f *testing.F, name string, n int) []byte {
	f.Helper()
	b, err := os.ReadFile("../testdata/khan2014/" + name)
	if err != nil {
		f.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			f.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			f.Fatal(err)
		}
	}
	lines := bytes.SplitAfterN(b, []byte("\n"), n+1)
	return bytes.Join(lines[:min(n, len(lines))], nil)
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// FuzzReadComponentsJSONL: any input reads to valid components with names a
// ProblemLog could hold, or to an error; what it reads writes back to the
// same table.
func FuzzReadComponentsJSONL(f *testing.F) {
	f.Add(firstLines(f, "components.jsonl", 2))
	one := firstLines(f, "components.jsonl", 1)
	f.Add(bytes.Replace(one, []byte(`"exercise":"`), []byte(`"exercise":"a/b%c\u0000`), 1))
	f.Add(bytes.Replace(one, []byte(`"problem_type":"`), []byte(`"problem_type":"`+strings.Repeat("/", 200)), 1))
	f.Add([]byte(`{"exercise":"e","problem_type":"","correct":true,"vector":[1,2]}` + "\n\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		comps, err := ReadComponentsJSONL(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, c := range comps {
			if err := c.Validate(); err != nil {
				t.Fatalf("read an invalid component: %v", err)
			}
			if CheckExercise(c.Exercise) != nil || CheckProblemType(c.ProblemType, true) != nil {
				t.Fatalf("read a component with bad names: %q %q", c.Exercise, c.ProblemType)
			}
		}
		var b bytes.Buffer
		if err := WriteComponentsJSONL(&b, comps); err != nil {
			t.Fatalf("writing what was read: %v", err)
		}
		again, err := ReadComponentsJSONL(&b)
		if err != nil || len(again) != len(comps) {
			t.Fatalf("reading what was written: %d components, %v; want %d", len(again), err, len(comps))
		}
		for i := range comps {
			if again[i].ComponentKey != comps[i].ComponentKey || !sameFloats(again[i].Vector, comps[i].Vector) {
				t.Fatalf("component %d: %v read back as %v", i, comps[i].ComponentKey, again[i].ComponentKey)
			}
		}
		NewComponents(comps) // may refuse a conflict; must not panic
	})
}

// FuzzReadRowsCSV: any input reads to rows or to an error; the rows written
// back read to the same rows (time_done to the microsecond, the writer's
// precision).
func FuzzReadRowsCSV(f *testing.F) {
	f.Add(firstLines(f, "expected_rows.csv.gz", 3))
	hdr := strings.Join(RowsCSVHeader(), ",")
	zeros := strings.Repeat(",0", NumFeatures-1)
	f.Add([]byte(hdr + "\n\"u,1\",ex,pt,1,2014-01-02T03:04:05.123456789+01:00,1" + zeros + "\n"))
	f.Add([]byte(hdr + "\nu,ex,pt,1,0000-01-01T00:00:00+01:00,True" + strings.Repeat(",NaN", NumFeatures-1) + "\n"))
	f.Add([]byte(strings.Join(RowsCSVHeader()[1:], ",") + "\n\" e\",pt,-1,2014-01-02T03:04:05Z,false" + zeros + "\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rows []Row
		if err := ReadRowsCSV(bytes.NewReader(data), func(r Row) error {
			rows = append(rows, r)
			return nil
		}); err != nil {
			return
		}
		var b bytes.Buffer
		w := NewRowsCSVWriter(&b)
		for _, r := range rows {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var again []Row
		if err := ReadRowsCSV(bytes.NewReader(b.Bytes()), func(r Row) error {
			again = append(again, r)
			return nil
		}); err != nil || len(again) != len(rows) {
			t.Fatalf("reading %q back: %d rows, %v; want %d", b.Bytes(), len(again), err, len(rows))
		}
		for i, r := range rows {
			a := again[i]
			if a.User != r.User || a.Exercise != r.Exercise || a.ProblemType != r.ProblemType || a.ProblemNumber != r.ProblemNumber ||
				a.Correct != r.Correct || !a.TimeDone.Equal(r.TimeDone.Truncate(time.Microsecond)) || !sameFloats(a.X[:], r.X[:]) {
				t.Fatalf("row %d: %+v\nread back as %+v", i, r, a)
			}
		}
	})
}
