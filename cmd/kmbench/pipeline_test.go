package main

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

func TestCountLines(t *testing.T) {
	const header = "user,time_done,exercise,problem_type,problem_number,correct\n"
	const logs = "u1,2014-01-01T00:00:00Z,ex,pt,1,true\nu2,2014-01-01T00:00:00Z,ex,pt,1,false"
	dir := t.TempDir()
	gzipped := func(s string) string {
		path := filepath.Join(dir, "logs.csv.gz")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		zw.Write([]byte(s))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plain := func(s string) string {
		path := filepath.Join(dir, "logs.csv")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		name string
		path func() string
		want int64
	}{
		{"final newline", func() string { return plain(header + logs + "\n") }, 2},
		{"no final newline", func() string { return plain(header + logs) }, 2},
		{"header only", func() string { return plain(header) }, 0},
		{"empty", func() string { return plain("") }, 0},
		{"gzipped", func() string { return gzipped(header + logs + "\n") }, 2},
	} {
		if n, err := countLines(c.path()); err != nil || n != c.want {
			t.Errorf("%s: countLines = %d, %v; want %d", c.name, n, err, c.want)
		}
	}
}
