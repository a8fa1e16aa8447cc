package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/synth"
)

// readLogs parses a CSV file (gzipped if .gz) with problemlogs and returns
// its logs and the number of malformed lines.
func readLogs(t *testing.T, path string) ([]features.ProblemLog, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		t.Fatal("no header")
	}
	p, err := problemlogs.NewCSVParser(sc.Bytes(), problemlogs.DefaultColumns)
	if err != nil {
		t.Fatal(err)
	}
	var logs []features.ProblemLog
	bad := 0
	for sc.Scan() {
		l, err := p.Parse(sc.Bytes())
		var re *problemlogs.RowError
		switch {
		case err == nil:
			logs = append(logs, l)
		case errors.As(err, &re):
			bad++
		default:
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return logs, bad
}

// TestDefaults checks the default sample: about 60,000 logs over 30
// exercises, at least 25 of which have 300 rows or more in the window 1-5,
// gzipped, with the planted thetas alongside, the same bytes every run.
func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	out, thetas := filepath.Join(dir, "logs.csv.gz"), filepath.Join(dir, "planted.jsonl")
	var stderr bytes.Buffer
	if err := run([]string{"--out", out, "--thetas", thetas}, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "30 exercises") {
		t.Errorf("summary %q", stderr.String())
	}
	// The embedded sample is these files, byte for byte (go generate
	// ./sample makes them).
	for _, f := range [][2]string{{out, "problemlogs.csv.gz"}, {thetas, "planted_thetas.jsonl"}} {
		got, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if want, err := os.ReadFile(filepath.Join("../../sample", f[1])); err != nil || !bytes.Equal(got, want) {
			t.Errorf("sample/%s is not what kmsynth makes (%d bytes, %d made; %v): run go generate ./sample", f[1], len(want), len(got), err)
		}
	}
	logs, bad := readLogs(t, out)
	if bad != 0 || len(logs) < 57000 || len(logs) > 63000 {
		t.Fatalf("%d logs, %d malformed lines; want about 60000 and none", len(logs), bad)
	}
	rows := map[string]int{}
	for _, l := range logs {
		if features.DefaultWindow.Contains(l.ProblemNumber) {
			rows[l.Exercise]++
		}
	}
	enough := 0
	for _, n := range rows {
		if n >= 300 {
			enough++
		}
	}
	if len(rows) != 30 || enough < 25 {
		t.Fatalf("%d exercises, %d with >= 300 rows in 1-5: %v", len(rows), enough, rows)
	}

	f, err := os.Open(thetas)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	planted, err := model.ReadThetasJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(planted) != 30 || planted[0].Version != synth.PlantedVersion {
		t.Fatalf("%d planted records, first %+v", len(planted), planted[0])
	}
	for _, th := range planted {
		if rows[th.Exercise] == 0 {
			t.Fatalf("planted exercise %q has no logs", th.Exercise)
		}
	}

	again := filepath.Join(dir, "again.csv.gz")
	if err := run([]string{"--out", again}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same flags wrote different bytes")
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		students int // students expected in the output; 0: don't check
		badLines bool
		extra    bool
	}{
		{"students", []string{"--students", "50", "--exercises", "5", "--seed", "9"}, 50, false, false},
		{"logs", []string{"--logs", "3000", "--exercises", "8"}, 0, false, false},
		{"bad lines and extras", []string{"--students", "40", "--bad_fraction", "0.05", "--extra_columns"}, 40, true, true},
		{"grouped", []string{"--students", "20", "--shuffle", "0"}, 20, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name+".csv")
			if err := run(append(tt.args, "--out", out), io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			logs, bad := readLogs(t, out)
			if len(logs) == 0 || (bad > 0) != tt.badLines {
				t.Fatalf("%d logs, %d malformed lines", len(logs), bad)
			}
			users := map[string]bool{}
			for _, l := range logs {
				users[l.User] = true
			}
			if tt.students > 0 && len(users) != tt.students {
				t.Fatalf("%d students, want %d", len(users), tt.students)
			}
			if tt.name == "logs" && (len(logs) < 2700 || len(logs) > 3300) {
				t.Fatalf("%d logs, want about 3000", len(logs))
			}
			head, _ := os.ReadFile(out)
			header, _, _ := strings.Cut(string(head), "\n")
			if want := map[bool]string{false: synth.Header, true: synth.ExtraHeader}[tt.extra]; header != want {
				t.Fatalf("header %q, want %q", header, want)
			}
		})
	}
}

func TestStdout(t *testing.T) {
	var out, stderr bytes.Buffer
	if err := run([]string{"--students", "3", "--exercises", "2"}, &out, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), synth.Header+"\n") || !strings.Contains(stderr.String(), "3 students") {
		t.Fatalf("stdout %q..., stderr %q", out.String()[:80], stderr.String())
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--exercises", "0"},
		{"--bad_fraction", "1.5"},
		{"--logs", "0"},
		{"--window", "5-1"},
		{"--no_such_flag"},
		{"extra", "args"},
		{"--out", filepath.Join(dir, "missing", "dir", "x.csv")},
	} {
		if err := run(append(args, "--students", "0"), io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
	if err := run([]string{"--students", "-3"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "want a positive number") {
		t.Errorf("--students=-3: %v, want an error", err)
	}
	if err := run([]string{"--students", "3", "--thetas", "-"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "both write to standard output") {
		t.Errorf("--thetas=- with --out=-: %v, want an error", err)
	}
}

// TestFailedRunKeepsFiles checks that a run whose logs cannot be put in
// place leaves the previous thetas and no temporary files.
func TestFailedRunKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	thetas, out := filepath.Join(dir, "planted.jsonl"), filepath.Join(dir, "logs.csv")
	if err := os.WriteFile(thetas, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(out, "x"), 0o755); err != nil { // renaming over it fails
		t.Fatal(err)
	}
	if err := run([]string{"--students", "5", "--out", out, "--thetas", thetas}, io.Discard, io.Discard); err == nil {
		t.Fatal("no error")
	}
	if b, err := os.ReadFile(thetas); err != nil || string(b) != "old\n" {
		t.Errorf("the failed run changed %s: %.40q, %v", thetas, b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left in the directory: %v, want only the old files", entries)
	}
}
