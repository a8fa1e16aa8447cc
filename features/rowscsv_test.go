package features

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readExpectedRowsFile(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open("../testdata/khan2014/expected_rows.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAllRows(t *testing.T, b []byte) []Row {
	t.Helper()
	var rows []Row
	if err := ReadRowsCSV(bytes.NewReader(b), func(r Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func writeAllRows(t *testing.T, rows []Row) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewRowsCSVWriter(&buf)
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRowsCSVRoundTrip reads the conformance rows and writes them back:
// every column must keep its exact value (text for the key columns, the
// float64 for the features) and reading the output gives the same Rows.
func TestRowsCSVRoundTrip(t *testing.T) {
	orig := readExpectedRowsFile(t)
	rows := readAllRows(t, orig)
	if len(rows) != 3797 {
		t.Fatalf("read %d rows, want 3797", len(rows))
	}
	out := writeAllRows(t, rows)
	if again := readAllRows(t, out); !reflect.DeepEqual(again, rows) {
		t.Fatal("rows read back from the written CSV differ")
	}

	want, err := csv.NewReader(bytes.NewReader(orig)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("wrote %d lines, want %d", len(got), len(want))
	}
	if !reflect.DeepEqual(got[0], want[0]) || !reflect.DeepEqual(got[0], RowsCSVHeader()) {
		t.Fatalf("header %v\nwant %v", got[0], want[0])
	}
	for i := 1; i < len(want); i++ {
		for c := range want[i] {
			g, w := got[i][c], want[i][c]
			if c < len(rowsCSVKeyColumns) {
				if g != w {
					t.Fatalf("line %d column %s: %q, want %q", i+1, want[0][c], g, w)
				}
				continue
			}
			gv, err1 := strconv.ParseFloat(g, 64)
			wv, err2 := strconv.ParseFloat(w, 64)
			if err1 != nil || err2 != nil || gv != wv {
				t.Fatalf("line %d column %s: %q, want %q", i+1, want[0][c], g, w)
			}
		}
	}
}

func TestRowsCSVHeader(t *testing.T) {
	h := RowsCSVHeader()
	if len(h) != 6+NumFeatures-1 || h[0] != "user" || h[5] != "correct" || h[6] != "ewma_3" || h[len(h)-1] != "ks_99" {
		t.Errorf("header %v", h)
	}
	h[0] = "changed"
	if RowsCSVHeader()[0] != "user" {
		t.Error("RowsCSVHeader returns shared storage")
	}
}

func TestRowsCSVWriterFormat(t *testing.T) {
	r := Row{
		User:          `a "quoted", user`,
		Exercise:      "ex",
		ProblemType:   " pt",
		ProblemNumber: 7,
		TimeDone:      time.Date(2014, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600)),
		Correct:       true,
	}
	r.X[0] = 1
	r.X[1] = 0.1
	r.X[2] = 1e-7
	r.X[3] = -2
	r.X[NumFeatures-1] = 123456789.125
	out := string(writeAllRows(t, []Row{r}))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	wantPrefix := `"a ""quoted"", user",ex," pt",7,2014-01-02T02:04:05.000006Z,1,0.1,1e-07,-2,0,`
	if !strings.HasPrefix(lines[1], wantPrefix) || !strings.HasSuffix(lines[1], ",1.23456789125e+08") {
		t.Errorf("line %q\nwant prefix %q", lines[1], wantPrefix)
	}
	got := readAllRows(t, []byte(out))
	r.TimeDone = r.TimeDone.UTC()
	if len(got) != 1 || !reflect.DeepEqual(got[0], r) {
		t.Errorf("read back %+v\nwant %+v", got, r)
	}

	// No rows: the header alone.
	if out := string(writeAllRows(t, nil)); out != strings.Join(RowsCSVHeader(), ",")+"\n" {
		t.Errorf("empty output %q", out)
	}
}

// minimalCSV builds a rows CSV with the given extra leading columns, the
// feature columns in reverse order, and one line per (prefix, value) pair.
func minimalCSV(header []string, lines ...[]string) string {
	var b strings.Builder
	h := append([]string(nil), header...)
	for j := NumFeatures - 1; j >= 1; j-- {
		h = append(h, FeatureNames[j])
	}
	b.WriteString(strings.Join(h, ",") + "\n")
	for _, l := range lines {
		vals := append([]string(nil), l...)
		for j := NumFeatures - 1; j >= 1; j-- {
			vals = append(vals, strconv.Itoa(j))
		}
		b.WriteString(strings.Join(vals, ",") + "\n")
	}
	return b.String()
}

func TestReadRowsCSV(t *testing.T) {
	in := minimalCSV([]string{"extra", "correct", "exercise"},
		[]string{"x", "1", "e1"},
		[]string{"x", "true", "e2"},
		[]string{"x", "True", "e3"},
		[]string{"x", "0", "e4"},
		[]string{"x", "false", "e5"},
		[]string{"x", "False", "e6"},
	)
	var got []Row
	err := ReadRowsCSV(strings.NewReader(in), func(r Row) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d rows", len(got))
	}
	for i, r := range got {
		if want := i < 3; r.Correct != want {
			t.Errorf("row %d: correct %v, want %v", i, r.Correct, want)
		}
		if r.Exercise != "e"+strconv.Itoa(i+1) || r.User != "" || !r.TimeDone.IsZero() {
			t.Errorf("row %d: %+v", i, r)
		}
		for j := range r.X {
			want := float64(j)
			if j == 0 {
				want = 1
			}
			if r.X[j] != want {
				t.Errorf("row %d: X[%d] = %v, want %v", i, j, r.X[j], want)
			}
		}
	}

	stop := errors.New("stop")
	n := 0
	err = ReadRowsCSV(strings.NewReader(in), func(Row) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("callback error: got %v after %d rows", err, n)
	}
}

func TestReadRowsCSVErrors(t *testing.T) {
	full := []string{"user", "exercise", "problem_type", "problem_number", "time_done", "correct"}
	good := []string{"u", "e", "p", "1", "2014-01-02T03:04:05.000006Z", "1"}
	with := func(col int, v string) []string {
		l := append([]string(nil), good...)
		l[col] = v
		return l
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no header"},
		{"missing exercise", "correct,ewma_3\n1,0\n", `missing column "exercise"`},
		{"missing feature", "exercise,correct,ewma_3\ne,1,0\n", `missing column "ewma_10"`},
		{"duplicate column", "exercise,exercise\n", `duplicate column "exercise"`},
		{"bad correct", minimalCSV(full, good, with(5, "yes")), `line 3: column correct: invalid value "yes"`},
		{"bad time", minimalCSV(full, good, good, with(4, "yesterday")), "line 4: column time_done"},
		{"bad problem number", minimalCSV(full, with(3, "one")), "line 2: column problem_number"},
		{"bad feature", strings.Replace(minimalCSV(full, good, good), ",50,", ",5o,", 2), "line 2: column ks_43"},
		{"short line", minimalCSV(full, good) + "u,e\n", "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadRowsCSV(strings.NewReader(tc.in), func(Row) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
